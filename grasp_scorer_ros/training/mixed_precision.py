"""Which autocast a training run uses (``--amp``), decided from the device, never assumed.

* ``auto``: on CUDA, bfloat16 where the GPU computes it natively (Ampere and later), else float16
  with a gradient scaler (float16's narrow range underflows small gradients without one); on the
  CPU, bfloat16 where it is native (AVX-512 BF16, AMX) and float32 otherwise, as before.
* ``bfloat16`` / ``float16`` / ``off``: as given (float16 only on CUDA: CPU float16 autocast is not
  faster than float32). ``none`` is the old spelling of ``off`` (``--autocast none``).

:func:`resolve_amp` is a pure function of the setting, the device type and whether bfloat16 is
native there, so every branch is testable without a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from grasp_scorer_ros.network.precision import native_bfloat16

AMP_CHOICES = ("auto", "off", "none", "bfloat16", "float16")


@dataclass(frozen=True)
class AmpPlan:
    dtype: Optional[torch.dtype]   # None: float32, no autocast
    scaler: bool                   # a GradScaler is needed (float16)
    reason: str

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bfloat16", torch.float16: "float16"}[self.dtype]


def resolve_amp(setting: str, device_type: str, bf16_native: Optional[tuple[bool, str]] = None) -> AmpPlan:
    """The autocast of ``setting`` on a ``device_type`` (``cpu``/``cuda``) device.

    ``bf16_native``: ``(native, why)`` from :func:`~grasp_scorer_ros.network.precision.native_bfloat16`
    (asked of ``device_type`` when not given)."""
    if setting not in AMP_CHOICES:
        raise ValueError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {setting!r}")
    if setting in ("off", "none"):
        return AmpPlan(None, False, "set explicitly")
    if setting == "float16":
        if device_type != "cuda":
            raise ValueError(f"--amp float16 needs a CUDA device (this run is on {device_type}); "
                             "use --amp bfloat16 or --amp off")
        return AmpPlan(torch.float16, True, "set explicitly (with a gradient scaler)")
    native, why = bf16_native if bf16_native is not None else native_bfloat16(device_type)
    if setting == "bfloat16":
        return AmpPlan(torch.bfloat16, False,
                       "set explicitly" if native else f"set explicitly, although {why}: expect it to be slow")
    if native:
        return AmpPlan(torch.bfloat16, False, f"auto: {why}")
    if device_type == "cuda":
        return AmpPlan(torch.float16, True, f"auto: {why}, float16 with a gradient scaler")
    return AmpPlan(None, False, f"auto: {why}")


def grad_scaler(plan: AmpPlan, device_type: str) -> torch.amp.GradScaler:
    """A GradScaler that scales only for float16; disabled, it passes the loss and step through."""
    return torch.amp.GradScaler(device_type, enabled=plan.scaler)
