"""Quality scores for sketch -> paint translations of the shapes domains (``munit_cli.demo``).

The shapes generator knows each input's true mask, so translations can be scored against ground
truth, with rules a person would agree with:

- **content kept**: IoU of a translation's foreground with the input shape's mask. The foreground
  is every pixel whose colour is far from the background colour (the median of the border pixels);
  painted shapes differ from their background by at least ``demo.MIN_CONTRAST`` in some channel.
- **target-likeness**: the share of translations that look painted: a flat background, a shape
  filled with one even colour, and solid (not an outline: a good part of it survives a 3x3 erosion).
  A real painted image passes; a real sketch (a 2-pixel outline) fails the solid test.
- **even fill**: the graded part of target-likeness, for telling recipes apart while none passes:
  the mean share of a translation's foreground within ``CLOSE`` of its median colour (1 for a flat
  fill; a painted shape with a rim of another colour or a mottled inside scores less).
- **diversity**: for each input, the mean absolute pixel difference (0..1) between its
  translations in different styles, averaged over pairs and inputs.

Thresholds are in 0..1 colour units, on the largest channel difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .demo import MIN_CONTRAST

# A pixel belongs to the foreground when its colour is this far from the background's: half the
# smallest contrast the paint domain draws, so a real painted shape is split exactly.
FOREGROUND = MIN_CONTRAST / 255 / 2
# "Flat" and "even": the share of pixels within ``CLOSE`` of their region's median colour.
CLOSE = 0.1
FLAT_BACKGROUND = 0.9
EVEN_FILL = 0.8
# "Solid": the share of the foreground left after a 3x3 erosion: an outline keeps next to none (at
# most 3% at 64x64), a real painted shape at least 28% (its thinnest, a small star at 32x32).
SOLID = 0.2
MIN_AREA = 0.02  # a foreground smaller than 2% of the image is no shape at all


@dataclass(frozen=True)
class QualityScores:
    content_kept: float      # mean IoU with the input's mask (1 is perfect)
    target_likeness: float   # share of translations that look painted (1 is perfect)
    diversity: float         # mean pixel difference between one input's styles
    even_fill: float = 0.0   # mean share of a foreground close to its median colour (1 is perfect)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def summary(self) -> str:
        return (f"content kept (IoU) {self.content_kept:.3f}, target-likeness {self.target_likeness:.1%}, "
                f"diversity {self.diversity:.3f}, even fill {self.even_fill:.1%}")


def _distance(image: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """Per pixel, the largest channel difference between ``image`` [3, H, W] and ``colour`` [3]."""
    return (image - colour[:, None, None]).abs().amax(0)


def foreground(image: torch.Tensor) -> torch.Tensor:
    """The pixels of ``image`` ([3, H, W] in 0..1) that differ from its background colour (the
    median colour of its one-pixel border), as a bool mask [H, W]."""
    border = torch.cat([image[:, 0], image[:, -1], image[:, 1:-1, 0], image[:, 1:-1, -1]], dim=1)
    return _distance(image, border.median(dim=1).values) > FOREGROUND


def share_close(image: torch.Tensor, region: torch.Tensor) -> float:
    """The share of the ``region`` (bool [H, W]) of ``image`` ([3, H, W] in 0..1) within ``CLOSE`` of the
    region's median colour: for the foreground, the even fill."""
    pixels = image.flatten(1)[:, region.flatten()]
    if pixels.shape[1] == 0:
        return 0.0
    median = pixels.median(dim=1).values
    return ((pixels - median[:, None]).abs().amax(0) <= CLOSE).float().mean().item()


def looks_painted(image: torch.Tensor, fg: torch.Tensor, even_fill: float) -> bool:
    """Whether ``image`` ([3, H, W] in 0..1) has the paint domain's properties, given its foreground
    and that foreground's even fill (``share_close(image, fg)``)."""
    area = fg.float().mean().item()
    if area < MIN_AREA or area > 1 - MIN_AREA:
        return False
    eroded = 1 - F.max_pool2d(1 - fg[None, None].float(), 3, stride=1, padding=1)
    solid = (eroded.sum() / fg.sum()).item()
    return share_close(image, ~fg) >= FLAT_BACKGROUND and even_fill >= EVEN_FILL and solid >= SOLID


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def score(translations: torch.Tensor, masks: torch.Tensor) -> QualityScores:
    """Scores of ``translations`` [N, K, 3, H, W] in -1..1 (N inputs, K styles each) against the
    inputs' shape ``masks`` [N, H, W] (bool)."""
    images = (translations.detach().float().cpu().clamp(-1, 1) + 1) / 2
    n, k = images.shape[:2]
    ious, painted, even = [], [], []
    for i in range(n):
        for j in range(k):
            fg = foreground(images[i, j])
            ious.append(iou(fg, masks[i]))
            even.append(share_close(images[i, j], fg))
            painted.append(looks_painted(images[i, j], fg, even[-1]))
    pairs = [(p, q) for p in range(k) for q in range(p + 1, k)]
    diversity = (sum((images[:, p] - images[:, q]).abs().mean().item() for p, q in pairs) / len(pairs)
                 if pairs else 0.0)
    return QualityScores(sum(ious) / len(ious), sum(painted) / len(painted), diversity, sum(even) / len(even))


@dataclass(frozen=True)
class HeldOutShapes:
    """Sketches to translate, their true masks, and the same shapes painted for real in ``k``
    colourings each (the ceiling every score is read against)."""

    sketches: torch.Tensor   # [N, 3, H, W] in -1..1
    masks: torch.Tensor      # [N, H, W] bool
    paintings: torch.Tensor  # [N, K, 3, H, W] in -1..1

    @classmethod
    def draw(cls, n: int, size: int, k: int, seed: int) -> HeldOutShapes:
        import random

        from .data import to_model_range as to_tensor
        from .demo import Shape, paint_colours

        rng = random.Random(seed)
        shapes = [Shape.sample(size, rng) for _ in range(n)]
        sketches = torch.stack([to_tensor(s.sketch(size)) for s in shapes])
        masks = torch.stack([to_tensor(s.mask(size).convert("RGB"))[0] > 0 for s in shapes])
        paintings = torch.stack([torch.stack([to_tensor(s.paint(size, paint_colours(rng))) for _ in range(k)])
                                 for s in shapes])
        return cls(sketches, masks, paintings)
