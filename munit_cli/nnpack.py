"""Stride-1 convolutions for inference on a CPU through NNPACK, which PyTorch's builds carry (``available``).

For a 3x3 kernel NNPACK computes with Winograd's transform (F(6x6, 3x3): about 5x fewer
multiplications than a direct convolution) and for larger kernels with FFTs. oneDNN, which
``F.conv2d`` uses on a CPU, computes directly. One image at a time, the decoder's 3x3
convolutions (residual and upsampling) ran 2.3-2.7x faster this way on a 2-core AVX2 CPU, its
final 4x4 block convolution 1.24x, and a 7x7 convolution of an RGB image no faster
(``benchmarks/layers.py``, ``results_layers_cpu.txt``).

The price is rounding: Winograd's transforms lose a little more than direct summation (relative
differences of about 1e-5 to oneDNN's float32 result per convolution, far below one 8-bit level of
an output image). So this path is for inference only, where ``devices.choose_paths`` turns it on
for a CPU: the training step's gradients and exported graphs never see it.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

# From fewer input channels NNPACK gained nothing: a 7x7 convolution of an RGB image ran 0.91-1.03x.
MIN_IN_CHANNELS = 16

# MUNIT_NNPACK=0 leaves every convolution to oneDNN: the way out should NNPACK misbehave on some
# CPU (it is measured on AVX2 only), and the baseline benchmarks/translate_process.py compares with.
SWITCH_VARIABLE = "MUNIT_NNPACK"

_available: bool | None = None


def available() -> bool:
    """Whether this torch build has NNPACK, this CPU runs it, and MUNIT_NNPACK is not 0. The check
    also initialises NNPACK, without which its convolution fails."""
    global _available
    if _available is None:
        wanted = os.environ.get(SWITCH_VARIABLE, "1").strip() != "0"
        _available = wanted and bool(getattr(torch, "_nnpack_available", lambda: False)())
    return _available


def usable(x: torch.Tensor, weight: torch.Tensor, stride: int | tuple[int, ...] = 1,
           groups: int = 1, dilation: int | tuple[int, ...] = 1) -> bool:
    """Whether ``conv2d`` may compute this convolution: outside autograd and tracing, float32 on a
    CPU, stride 1, no groups or dilation, enough input channels, and NNPACK present."""
    return (not torch.is_grad_enabled() and x.device.type == "cpu"
            and x.dtype == weight.dtype == torch.float32 and x.dim() == 4
            and _all_ones(stride) and _all_ones(dilation) and groups == 1
            and weight.shape[1] >= MIN_IN_CHANNELS
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
            and available())


def _all_ones(value: int | tuple[int, ...]) -> bool:
    return all(v == 1 for v in ((value,) if isinstance(value, int) else value))


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (zero padding, stride 1) through NNPACK.

    One image per call: NNPACK's single-image path was 1.66x faster than its batched path on 8
    images (a 3x3 convolution of 256 channels at 64x64, 208 ms against 344 ms for all 8;
    ``benchmarks/layers.py``).
    """
    if bias is None:
        bias = x.new_zeros(weight.shape[0])
    x, weight = x.contiguous(), weight.contiguous()
    try:
        outputs = [torch._nnpack_spatial_convolution(image, weight, bias, list(padding)) for image in x.split(1)]
    except RuntimeError:  # NNPACK reports a failure status, not why (e.g. uninitialised): oneDNN then
        return F.conv2d(x, weight, bias, padding=tuple(padding))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def conv2d_module(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` through NNPACK for a ``usable`` convolution, with any of Conv2d's padding modes."""
    if conv.padding_mode == "zeros":
        return conv2d(x, conv.weight, conv.bias, conv.padding)
    ph, pw = conv.padding
    return conv2d(F.pad(x, (pw, pw, ph, ph), mode=conv.padding_mode), conv.weight, conv.bias)
