"""Differentiable augmentation of the discriminators' inputs (Zhao et al. 2020, "DiffAugment").

With few training images a discriminator learns them by heart and stops teaching the generators.
Showing it every image, real and translated alike, randomly shifted, cut or recoloured keeps it
from memorising, and since the augmentations are differentiable the generators still learn through
them. Each image draws its own parameters on the device (no host synchronisation); the policy is a
"+"-joined subset of ``config.DIS_AUGMENTATIONS`` (``TrainConfig.dis_augment``), applied in the
order given.

Images are in -1..1; zero (mid grey) fills what a shift or a cut leaves empty.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TRANSLATION = 1 / 8  # largest shift, as a share of the side
CUTOUT = 1 / 2       # side of the cut square, as a share of the image's


def _pixel_grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices [1, H, 1] and [1, 1, W] of x's pixels."""
    h, w = x.shape[-2:]
    return (torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w))


def _random_offsets(x: torch.Tensor, low: int, high: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, a row and a column offset drawn from low..high-1, as [N, 1, 1]."""
    offsets = torch.randint(low, high, (2, x.shape[0], 1, 1), device=x.device)
    return offsets[0], offsets[1]


def translation(x: torch.Tensor) -> torch.Tensor:
    """Shift each image by up to an eighth of its side in each direction, in whole pixels."""
    n, c, h, w = x.shape
    most = max(1, round(min(h, w) * TRANSLATION))
    dy, dx = _random_offsets(x, -most, most + 1)
    rows, cols = _pixel_grid(x)
    src_rows, src_cols = rows - dy, cols - dx  # where each output pixel comes from
    inside = (src_rows >= 0) & (src_rows < h) & (src_cols >= 0) & (src_cols < w)
    index = (src_rows.clamp(0, h - 1) * w + src_cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    return x.flatten(2).gather(2, index).view_as(x) * inside.unsqueeze(1).to(x.dtype)


def cutout(x: torch.Tensor) -> torch.Tensor:
    """Blank a square of half the image's side at a random place in each image (clipped at the edges)."""
    h, w = x.shape[-2:]
    cy, cx = _random_offsets(x, 0, min(h, w))
    rows, cols = _pixel_grid(x)
    half = round(min(h, w) * CUTOUT) // 2
    keep = ((rows - cy).abs() >= half) | ((cols - cx).abs() >= half)
    return x * keep.unsqueeze(1).to(x.dtype)


def colour(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast per image (DiffAugment's ranges, on -1..1 images)."""
    n = x.shape[0]
    factors = torch.rand(3, n, 1, 1, 1, device=x.device, dtype=x.dtype)
    x = x + (factors[0] - 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (factors[1] * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (factors[2] + 0.5) + mean


AUGMENTATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "translation": translation,
    "cutout": cutout,
    "colour": colour,
}


def policy(spec: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The augmentation ``spec`` names ("none", or e.g. "translation+cutout"), or None for none."""
    if spec == "none":
        return None
    steps = [AUGMENTATIONS[name] for name in spec.split("+")]

    def augment(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x
    return augment
