"""A procedural two-domain dataset for ``munit demo``, the quality benchmark and the tests.

Domain ``sketch``: black outlines of a shape on white paper. Domain ``paint``: the same kinds of
shapes filled with a random colour on a random background colour. Content is the geometry (kind,
position, size, rotation); style is the colouring, so a sketch->paint translation should keep the
shape and invent colours.

The generator knows the truth about every image it draws (``Shape``: the geometry, hence the
shape's mask), which is what ``munit_cli.quality`` scores translations against.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from .config import ModelConfig, TrainConfig

SHAPES = ("circle", "square", "triangle", "star")
DOMAINS = ("sketch", "paint")

Colour = tuple[int, int, int]

# A painted shape's colour differs from its background's by at least this much in some channel,
# so that the shape is visible in every image of the domain (and a translation's shape can be told
# from its background by colour alone).
MIN_CONTRAST = 96


@dataclass(frozen=True)
class Shape:
    """The geometry of one drawing: the content both domains share."""

    kind: str
    cx: float
    cy: float
    r: float
    angle: float

    @classmethod
    def sample(cls, size: int, rng: random.Random) -> Shape:
        kind = SHAPES[rng.randrange(len(SHAPES))]
        r = rng.uniform(0.2, 0.38) * size
        cx, cy = (rng.uniform(r + 1, size - r - 1) for _ in range(2))
        return cls(kind, cx, cy, r, rng.uniform(0, 2 * math.pi))

    def polygon(self) -> list[tuple[float, float]]:
        if self.kind == "square":
            corners, radii = 4, [self.r] * 4
        elif self.kind == "triangle":
            corners, radii = 3, [self.r] * 3
        else:  # star
            corners, radii = 10, [self.r if i % 2 == 0 else self.r * 0.45 for i in range(10)]
        return [(self.cx + radii[i] * math.cos(self.angle + 2 * math.pi * i / corners),
                 self.cy + radii[i] * math.sin(self.angle + 2 * math.pi * i / corners)) for i in range(corners)]

    def draw(self, size: int, background: Colour, fill: Colour | None, outline: Colour | None) -> Image.Image:
        img = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(img)
        width = max(1, size // 24)
        if self.kind == "circle":
            box = [self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r]
            draw.ellipse(box, fill=fill, outline=outline, width=width)
        else:
            draw.polygon(self.polygon(), fill=fill, outline=outline, width=width)
        return img

    def sketch(self, size: int) -> Image.Image:
        return self.draw(size, (255, 255, 255), None, (0, 0, 0))

    def paint(self, size: int, colours: tuple[Colour, Colour]) -> Image.Image:
        background, fill = colours
        return self.draw(size, background, fill, None)

    def mask(self, size: int) -> Image.Image:
        """The filled shape, white on black (mode L): where its pixels are in either domain."""
        return self.draw(size, (0, 0, 0), (255, 255, 255), None).convert("L")


def paint_colours(rng: random.Random) -> tuple[Colour, Colour]:
    """(background, fill): random colours at least ``MIN_CONTRAST`` apart in some channel."""
    while True:
        background, fill = (tuple(rng.randint(0, 255) for _ in range(3)) for _ in range(2))
        if max(abs(a - b) for a, b in zip(background, fill)) >= MIN_CONTRAST:
            return background, fill  # type: ignore[return-value]


def make_shapes_dataset(root: str | Path, n_train: int = 200, n_test: int = 8, size: int = 64,
                        seed: int = 0) -> Path:
    """Write ``root/{train,test}/{sketch,paint}/*.png``, the AFHQ layout ``munit train`` reads.

    Each domain's images are drawn independently (unpaired), from one seeded stream.
    """
    root = Path(root)
    rng = random.Random(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for domain in DOMAINS:
            folder = root / split / domain
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = Shape.sample(size, rng)
                image = shape.paint(size, paint_colours(rng)) if domain == "paint" else shape.sketch(size)
                image.save(folder / f"{i:05d}.png")
    return root


# `munit demo`'s model and recipe (benchmarks/quality.py measures them as its "demo" setting).
# Small enough to train on two CPU cores in minutes, big enough to learn shapes and colours. One
# downsampling keeps a 16x16 content code of a 32x32 image (the outlines survive it); the default
# recipe's explicit cycle loss keeps the geometry through sketch -> paint -> sketch.
DEMO_MODEL = ModelConfig(gen_dim=16, style_dim=8, mlp_dim=64, n_downsample=1, n_res=2, dis_dim=16, dis_n_layer=3,
                         dis_num_scales=2)
DEMO_TRAIN_IMAGES = 300  # per domain


def demo_train_config(**changes) -> TrainConfig:
    """The default recipe, its loss weights included, with the demo's model and a learning rate of 4e-4.
    (The demo kept the adversarial weight 1 until two `munit demo` runs with the default's 2, seeds 0
    and 1, scored ahead on content kept, target-likeness and even fill: docs/quality.md.)"""
    return TrainConfig(**{"model": DEMO_MODEL, "image_size": 32, "lr": 4e-4, **changes})
