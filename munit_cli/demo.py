"""A procedural two-domain dataset for ``munit demo`` and the tests.

Domain ``sketch``: black outlines of a shape on white paper. Domain ``paint``: the same kinds of
shapes filled with a random colour on a random background colour. Content is the geometry (kind,
position, size, rotation); style is the colouring, so a sketch->paint translation should keep the
shape and invent colours.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")
DOMAINS = ("sketch", "paint")


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        corners, radii = 4, [r] * 4
    elif kind == "triangle":
        corners, radii = 3, [r] * 3
    else:  # star
        corners, radii = 10, [r if i % 2 == 0 else r * 0.45 for i in range(10)]
    return [(cx + radii[i] * math.cos(angle + 2 * math.pi * i / corners),
             cy + radii[i] * math.sin(angle + 2 * math.pi * i / corners)) for i in range(corners)]


def draw_shape(kind: str, size: int, rng: random.Random, painted: bool) -> Image.Image:
    """One image: an outline (sketch) or a filled, coloured shape (paint)."""
    def colour() -> tuple[int, int, int]:
        return tuple(rng.randint(0, 255) for _ in range(3))  # type: ignore[return-value]

    background = colour() if painted else (255, 255, 255)
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.2, 0.38) * size
    cx, cy = (rng.uniform(r + 1, size - r - 1) for _ in range(2))
    angle = rng.uniform(0, 2 * math.pi)
    width = max(1, size // 24)
    fill, outline = (colour(), None) if painted else (None, (0, 0, 0))
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
    else:
        draw.polygon(_polygon(kind, cx, cy, r, angle), fill=fill, outline=outline, width=width)
    return img


def make_shapes_dataset(root: str | Path, n_train: int = 200, n_test: int = 8, size: int = 64,
                        seed: int = 0) -> Path:
    """Write ``root/{train,test}/{sketch,paint}/*.png``, the AFHQ layout ``munit train`` reads."""
    root = Path(root)
    rng = random.Random(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for domain in DOMAINS:
            folder = root / split / domain
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                kind = SHAPES[rng.randrange(len(SHAPES))]
                draw_shape(kind, size, rng, painted=domain == "paint").save(folder / f"{i:05d}.png")
    return root
