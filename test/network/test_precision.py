"""precision: auto takes bfloat16 only where the device computes it natively, detected, never assumed."""
import pytest

from grasp_scorer_ros.network import precision
from grasp_scorer_ros.network.precision import native_bfloat16, resolve_precision


@pytest.fixture
def avx512_torch(monkeypatch):
    """torch's kernels as on a CPU with AVX-512, whatever this machine runs (the flags decide alone)."""
    monkeypatch.setattr(precision, "torch_cpu_capability", lambda: "AVX512")


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                    f"flags\t\t: fpu sse sse2 avx avx2 {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize("flags, native", [
    ("avx512f avx512_bf16 avx512_vnni", True),    # AVX-512 BF16 (e.g. AMD Zen 4/5, Intel Cooper Lake)
    ("avx512f amx_tile amx_bf16 amx_int8", True),  # AMX (Intel Sapphire Rapids)
    ("avx512f avx512_vnni", False),                 # AVX-512 without BF16
    ("", False),                                    # AVX2 only
])
def test_cpu_native_bfloat16_comes_from_the_cpu_flags(tmp_path, flags, native, avx512_torch):
    found, reason = native_bfloat16("cpu", cpuinfo=cpuinfo(tmp_path, flags))
    assert found is native
    assert ("avx512_bf16" in reason or "amx_bf16" in reason)
    dtype, why = resolve_precision("auto", "cpu", cpuinfo=cpuinfo(tmp_path, flags))
    assert dtype == ("bfloat16" if native else "float32")
    assert why.startswith("auto: ")


def test_torch_told_to_use_avx2_kernels_means_float32(tmp_path, monkeypatch):
    """ATEN_CPU_CAPABILITY=avx2 (an AVX2 machine's kernels on this one): no native bfloat16 then."""
    monkeypatch.setattr(precision, "torch_cpu_capability", lambda: "AVX2")
    found, reason = native_bfloat16("cpu", cpuinfo=cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert not found and "AVX2 kernels" in reason
    assert resolve_precision("auto", "cpu", cpuinfo=cpuinfo(tmp_path, "avx512_bf16"))[0] == "float32"


def test_unreadable_cpuinfo_means_float32(tmp_path):
    found, reason = native_bfloat16(None, cpuinfo=tmp_path / "missing")
    assert not found and "unknown" in reason
    assert resolve_precision("auto", cpuinfo=tmp_path / "missing")[0] == "float32"


def test_explicit_precisions_are_kept_and_a_slow_bfloat16_is_said(tmp_path):
    assert resolve_precision("float32", cpuinfo=cpuinfo(tmp_path, "avx512_bf16")) == ("float32", "set explicitly")
    dtype, reason = resolve_precision("bfloat16", cpuinfo=cpuinfo(tmp_path, ""))
    assert dtype == "bfloat16" and "slower" in reason
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        resolve_precision("float16")


def test_cuda_asks_torch():
    torch = pytest.importorskip("torch")
    found, reason = native_bfloat16("cuda")
    if not torch.cuda.is_available():
        assert not found and "not available" in reason
        assert resolve_precision("auto", "cuda")[0] == "float32"
    else:
        assert found == torch.cuda.is_bf16_supported(including_emulation=False)


def test_this_machine_is_detected_not_assumed():
    from pathlib import Path
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    expected = bool({"avx512_bf16", "amx_bf16"} & set(flags)) and \
        precision.torch_cpu_capability() not in precision.TORCH_WITHOUT_BF16
    assert native_bfloat16()[0] is expected
