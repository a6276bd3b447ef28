"""What the `munit serve` page does, without the page: every handler takes a file path and plain
values, returns Pillow images, and raises ``DataError`` with a message for the user on bad input.

The same functions as `munit translate` do the work (``read_image``'s preprocessing, ``sample_styles``,
``inference.translate``), so for one checkpoint, image, seed and number of styles the page shows
the pixels the command writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from .data import image_dimensions, load_image, preprocess, to_pil
from .devices import choose_paths
from .errors import DataError
from .inference import encode_style, sample_styles, translate
from .model import MUNIT

MAX_PIXELS = 40_000_000  # larger uploads are refused before they are decoded (12000x12000 is 144M)
MAX_STYLES = 16


@dataclass
class Result:
    source: Image.Image  # the input as the model saw it (resized and cropped)
    images: list[Image.Image]
    styles: torch.Tensor  # [N, style_dim], on the CPU
    seconds: float


class Translator:
    """One loaded model and the settings every request shares."""

    def __init__(self, model: MUNIT, image_size: int | None):
        self.device = next(model.parameters()).device
        # The computation paths `munit translate` takes on this device, whoever loaded the model:
        # the page promises the command's pixels.
        self.model = choose_paths(model, self.device.type)
        self.image_size = image_size
        self.style_dim = model.config.style_dim

    def directions(self) -> dict[str, str]:
        """Page label -> direction: ``dog → cat`` -> ``A2B``."""
        a, b = self.model.domains
        return {f"{a} → {b}": "A2B", f"{b} → {a}": "B2A"}

    # -- input -------------------------------------------------------------------------------

    def read(self, path: str | Path | None, what: str = "image") -> torch.Tensor:
        """An uploaded file as the model's input [1, 3, H, W], converted as the CLI converts it."""
        if not path:
            raise DataError(f"no {what} uploaded: choose an image file first")
        path = Path(path)
        if path.stat().st_size == 0:
            raise DataError(f"the {what} file is empty")
        try:
            width, height = image_dimensions(path)
        except DataError:
            raise DataError(f"the {what} file is not an image Pillow can read (JPEG, PNG, WebP, BMP, ...)") from None
        if width * height > MAX_PIXELS:
            raise DataError(f"the {what} is {width}x{height} pixels; the limit is {MAX_PIXELS // 1_000_000} "
                            "megapixels: scale it down first")
        try:
            img = load_image(path)
        except DataError:
            raise DataError(f"the {what} file cannot be decoded (truncated or damaged?)") from None
        x = preprocess(img, self.image_size, multiple=2 ** self.model.config.n_downsample)
        return x.unsqueeze(0).to(self.device)

    # -- the page's actions ------------------------------------------------------------------

    @torch.no_grad()
    def random_styles(self, path, direction: str, n: int, seed: int) -> Result:
        if not 1 <= n <= MAX_STYLES:
            raise DataError(f"number of styles must be 1 to {MAX_STYLES}; got {n}")
        started = time.perf_counter()
        x = self.read(path)
        styles = sample_styles(n, self.style_dim, seed, self.device)
        return self._render(x, direction, styles, started)

    @torch.no_grad()
    def with_styles(self, path, direction: str, styles: torch.Tensor) -> Result:
        """The image in given style codes [K, style_dim] (interpolation steps, explorer settings)."""
        started = time.perf_counter()
        return self._render(self.read(path), direction, styles.to(self.device), started)

    @torch.no_grad()
    def reference_style(self, path, direction: str, reference) -> Result:
        started = time.perf_counter()
        x = self.read(path)
        _, target = self.model.generators_for(direction)
        style = encode_style(target, self.read(reference, "reference image"))
        return self._render(x, direction, style, started)

    def _render(self, x: torch.Tensor, direction: str, styles: torch.Tensor, started: float) -> Result:
        source, target = self.model.generators_for(direction)
        images = [to_pil(img) for img in translate(source, target, x, styles)[0]]
        return Result(to_pil(x[0]), images, styles.float().cpu(), time.perf_counter() - started)


def interpolation(styles: torch.Tensor, first: int, second: int, t: float) -> torch.Tensor:
    """The style a fraction ``t`` of the way from gallery style ``first`` to ``second`` (1-based): [1, dim]."""
    n = len(styles)
    for k in (first, second):
        if not 1 <= k <= n:
            raise DataError(f"pick styles between 1 and {n} (the gallery's); got {k}")
    if not 0 <= t <= 1:
        raise DataError(f"the position must be between 0 and 1; got {t}")
    return torch.lerp(styles[first - 1], styles[second - 1], t)[None]


def explored(base: torch.Tensor, values: list[float]) -> torch.Tensor:
    """``base`` [dim] with its first ``len(values)`` numbers replaced: [1, dim]."""
    style = base.clone()
    style[:len(values)] = torch.tensor(values, dtype=style.dtype)
    return style[None]
