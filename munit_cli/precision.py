"""Numeric precision: fp32, bf16 or fp16, and ``auto``, which picks bf16 where the hardware has it.

Training runs under autocast (float32 weights and optimiser state). Inference casts the weights
once instead: autocast would cast every weight again at every call.
"""

from __future__ import annotations

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 natively (CUDA with bf16, CPUs with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 where the hardware has it (faster than float32 in benchmarks/translate.py,
    output pixels within a few levels of float32's), float32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def autocast(device: torch.device, precision: str):
    """Autocast to ``precision`` (fp32, bf16, fp16 or auto) on ``device``; fp32 disables it."""
    dtype = DTYPES[resolve_precision(precision, device)]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def model_dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def cast_for_inference(module: nn.Module, precision: str) -> nn.Module:
    """Cast ``module``'s weights, in place, to ``precision`` (auto: ``resolve_precision``) and return it.

    Inputs are then cast to match by ``inference.translate`` and friends, and the norms still
    compute their statistics in float32.
    """
    device = next(module.parameters()).device
    return module.to(DTYPES[resolve_precision(precision, device)])
