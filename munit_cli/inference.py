"""Inference on tensors: sample or encode styles, translate into many styles at once, interpolate.

Tensors in, tensors out; no files. Images are [N, 3, H, W] in [-1, 1]; styles are [K, style_dim].
"""

from __future__ import annotations

import torch

from .errors import ConfigError
from .networks import Generator


def sample_styles(n: int, style_dim: int, seed: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` random styles from the prior N(0, I), reproducible for a given seed."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(n, style_dim, generator=generator).to(device)


@torch.no_grad()
def encode_style(generator: Generator, images: torch.Tensor) -> torch.Tensor:
    """Style codes of (target-domain) reference images: [N, style_dim]."""
    return generator.encode_style(images)


@torch.no_grad()
def translate(source: Generator, target: Generator, images: torch.Tensor, styles: torch.Tensor,
              chunk: int = 64) -> torch.Tensor:
    """Every image in every style: [N, K, 3, H, W].

    Each image is encoded once; its content is repeated across the K styles and decoded in batches
    of up to ``chunk`` (image, style) pairs, rather than one style at a time.
    """
    if styles.dim() != 2:
        styles = styles.flatten(1)
    if styles.shape[1] != target.mlp.model[0].fc.in_features:
        raise ConfigError(f"style codes have {styles.shape[1]} numbers but this model's style_dim is "
                          f"{target.mlp.model[0].fc.in_features}")
    content = source.enc_content(images)  # [N, C, h, w]
    n, k = images.shape[0], styles.shape[0]
    pairs_content = content.repeat_interleave(k, dim=0)  # image-major: (img0,s0), (img0,s1), ...
    pairs_style = styles.to(content.dtype).repeat(n, 1)
    out = torch.cat([target.decode(pairs_content[i:i + chunk], pairs_style[i:i + chunk])
                     for i in range(0, n * k, chunk)])
    return out.view(n, k, *out.shape[1:])


def interpolate_styles(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` styles on the straight line from ``start`` to ``end`` (both included)."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 to include both ends; got {steps}")
    t = torch.linspace(0, 1, steps, device=start.device).view(-1, 1)
    return torch.lerp(start.view(1, -1), end.view(1, -1), t)
