"""Which floating-point precision to run the network in on this machine: detected, never assumed.

bfloat16 pays only where the hardware computes it natively: on a CPU with AVX-512 BF16 or AMX
(measured: the bundled ResNet-18 detector about 1.9x faster than float32), on a CUDA GPU that
supports it (Ampere and later). Elsewhere it is emulated and much slower (about 6x slower on an
AVX2-only CPU), so ``"auto"`` takes bfloat16 only where it is native.

    native, reason = native_bfloat16("cpu")       # (True, "CPU flags avx512_bf16")
    dtype, reason = resolve_precision("auto")     # ("bfloat16", "auto: CPU flags avx512_bf16 ...")

Used by the detection node (parameter ``precision``) and the benchmark; training can use the same
answer for its autocast.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

PRECISIONS = ("auto", "float32", "bfloat16")
# /proc/cpuinfo flags of a native bfloat16 CPU (Linux names): AVX-512 BF16, AMX with BF16 tiles.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
TORCH_WITHOUT_BF16 = ("DEFAULT", "NO AVX", "AVX2", "ZVECTOR", "VSX")   # torch kernel levels below AVX-512


def torch_cpu_capability() -> str:
    """The vector kernels torch dispatches to here ("AVX2", "AVX512", ...): the CPU's, unless
    ``ATEN_CPU_CAPABILITY`` lowered them."""
    import torch
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:   # an older torch
        return "unknown"


def cpu_flags(cpuinfo: Union[str, Path] = CPUINFO) -> set[str]:
    """The ``flags`` of the first processor in ``/proc/cpuinfo``; empty where it cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _device_type(device) -> str:
    if device is None:
        return "cpu"
    return getattr(device, "type", None) or str(device).split(":", 1)[0]


def native_bfloat16(device=None, cpuinfo: Union[str, Path] = CPUINFO) -> tuple[bool, str]:
    """Whether ``device`` (``None``: the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
    ``torch.device``) computes bfloat16 natively, and why, in words."""
    kind = _device_type(device)
    if kind == "cpu":
        flags = cpu_flags(cpuinfo)
        if not flags:
            return False, f"CPU flags unreadable ({cpuinfo}): bfloat16 support unknown"
        found = [flag for flag in NATIVE_BF16_CPU_FLAGS if flag in flags]
        if not found:
            return False, f"CPU has neither {' nor '.join(NATIVE_BF16_CPU_FLAGS)} (bfloat16 would be emulated)"
        capability = torch_cpu_capability()
        if capability in TORCH_WITHOUT_BF16:
            # The hardware has it, but torch was told to use older kernels (ATEN_CPU_CAPABILITY)
            return False, f"CPU flags {' '.join(found)}, but torch runs its {capability} kernels"
        return True, f"CPU flags {' '.join(found)}"
    if kind == "cuda":
        import torch
        if not torch.cuda.is_available():
            return False, "CUDA is not available"
        name = torch.cuda.get_device_name(torch.device(device))
        # including_emulation=False (torch >= 2.5): only hardware support counts.
        try:
            supported = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:
            supported = torch.cuda.is_bf16_supported()
        return (True, f"GPU {name} supports bfloat16") if supported else (
            False, f"GPU {name} has no native bfloat16")
    return False, f"no bfloat16 detection for device type {kind!r}"


def resolve_precision(name: str, device=None, cpuinfo: Union[str, Path] = CPUINFO) -> tuple[str, str]:
    """``(dtype name, reason)`` for a precision setting: ``"float32"`` and ``"bfloat16"`` are taken
    as given; ``"auto"`` is ``"bfloat16"`` where ``device`` computes it natively, else
    ``"float32"``. Raises ``ValueError`` for any other name."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        native, why = native_bfloat16(device, cpuinfo) if name == "bfloat16" else (True, "")
        if name == "bfloat16" and not native:
            return name, f"set explicitly, although {why}: expect it to be slower than float32"
        return name, "set explicitly"
    native, why = native_bfloat16(device, cpuinfo)
    if native:
        return "bfloat16", f"auto: {why}"
    return "float32", f"auto: {why}"

