"""Inference on tensors: sample or encode styles, translate into many styles at once, interpolate.

Tensors in, tensors out; no files. Images are [N, 3, H, W] in [-1, 1]; styles are [K, style_dim].
"""

from __future__ import annotations

import torch

from .errors import ConfigError
from .networks import Generator

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """Autocast to ``precision`` (fp32, bf16, fp16 or auto) on ``device``; fp32 disables it."""
    dtype = DTYPES[resolve_precision(precision, device)]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


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
    """``auto`` is bf16 where the hardware has it (1.8x faster than float32 in benchmarks/translate.py,
    output pixels within a few levels of float32's), float32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def sample_styles(n: int, style_dim: int, seed: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` random styles from the prior N(0, I), reproducible for a given seed."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(n, style_dim, generator=generator).to(device)


@torch.no_grad()
def encode_style(generator: Generator, images: torch.Tensor) -> torch.Tensor:
    """Style codes of (target-domain) reference images: [N, style_dim]."""
    return generator.encode_style(images)


def default_chunk(device: torch.device, pairs: int) -> int:
    """(image, style) pairs per decoder call.

    On a GPU one batch of every pair keeps the device busy. On a CPU, big batches of 256x256
    activations fall out of cache: decoding 8 styles of one 256x256 image took 3.7 s one pair per
    call and 4.5 s all in one call (2 cores, float32, benchmarks/translate.py), so pair by pair there.
    """
    return pairs if device.type != "cpu" else 1


@torch.no_grad()
def translate(source: Generator, target: Generator, images: torch.Tensor, styles: torch.Tensor,
              chunk: int | None = None) -> torch.Tensor:
    """Every image in every style: [N, K, 3, H, W]. Each image is encoded once (see ``decode_styles``)."""
    return decode_styles(target, source.enc_content(images), styles, chunk)


@torch.no_grad()
def decode_styles(target: Generator, content: torch.Tensor, styles: torch.Tensor,
                  chunk: int | None = None) -> torch.Tensor:
    """Decode every content code [N, C, h, w] with every style [K, style_dim]: [N, K, 3, H, W].

    All K styles go through the style MLP in one call; the decoder then runs on batches of
    ``chunk`` (content, style) pairs (default: ``default_chunk``).
    """
    if styles.dim() != 2:
        styles = styles.flatten(1)
    if styles.shape[1] != target.mlp.model[0].fc.in_features:
        raise ConfigError(f"style codes have {styles.shape[1]} numbers but this model's style_dim is "
                          f"{target.mlp.model[0].fc.in_features}")
    n, k = content.shape[0], styles.shape[0]
    chunk = chunk or default_chunk(content.device, n * k)
    pairs_content = content.repeat_interleave(k, dim=0)  # image-major: (img0,s0), (img0,s1), ...
    adain = target.mlp(styles.to(content.dtype)).repeat(n, 1)  # every style's AdaIN parameters at once
    out = torch.cat([target.dec(pairs_content[i:i + chunk], adain[i:i + chunk]) for i in range(0, n * k, chunk)])
    return out.view(n, k, *out.shape[1:])


def interpolate_styles(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` styles on the straight line from ``start`` to ``end`` (both included)."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 to include both ends; got {steps}")
    t = torch.linspace(0, 1, steps, device=start.device).view(-1, 1)
    return torch.lerp(start.view(1, -1), end.view(1, -1), t)
