"""Helpers shared by translate, style-sample and export: loading a model and reading inputs."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, read_metadata
from ..config import PRECISIONS
from ..data import find_images, load_image, preprocess
from ..devices import choose_paths, select_device
from ..errors import ConfigError, DataError
from ..model import MUNIT
from ..precision import cast_for_inference, resolve_precision
from ._console import console
from ._options import checkpoint_file


def load_model(checkpoint: Path | None, device: str,
               precision: str = "fp32") -> tuple[MUNIT, dict[str, str], Path]:
    """Load a checkpoint (or the newest run's) for inference, EMA weights when it has them, with its
    weights cast to ``precision`` (auto, fp32, bf16 or fp16)."""
    check_precision(precision)
    target_device = select_device(device)
    resolved = checkpoint_file(checkpoint)
    if resolved != checkpoint:  # found for the user (newest run, or a run folder's latest): say which
        console.print(f"using checkpoint {resolved}", highlight=False)
    checkpoint = resolved
    metadata = read_metadata(checkpoint)
    model = load_checkpoint(checkpoint, target_device, use_ema=metadata.get("has_ema") == "true",
                            discriminators=False)
    model = choose_paths(model, target_device.type)
    device_used = model_device(model)
    resolved = resolve_precision(precision, device_used)
    if precision == "auto":
        console.print(f"{device_used.type}, {resolved} (--precision auto)", highlight=False)
    return cast_for_inference(model, resolved), metadata, checkpoint


def default_image_size(metadata: dict[str, str], image_size: int | None, model: MUNIT) -> int | None:
    """--image-size, else the size the model was trained at (None: each image at its own size)."""
    if image_size is None:
        return int(metadata["image_size"]) if "image_size" in metadata else None
    multiple = 2**model.config.n_downsample
    smallest = model.config.min_generator_image_size()
    if image_size % multiple or image_size < smallest:
        raise ConfigError(f"--image-size must be a multiple of {multiple} and at least {smallest} "
                          f"for this model; got {image_size}")
    return image_size


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Image files as given, and the images below each folder (recursive).

    A path that does not exist is an error here, before any model is loaded: a typo should not
    cost a model load and a partial run. Files that exist but do not decode fail one by one later.
    """
    paths: list[Path] = []
    for item in inputs:
        if not item.exists():
            raise DataError(f"{item}: no such image file or folder")
        if item.is_dir():
            found = find_images(item)
            if not found:
                raise DataError(f"{item}: folder holds no images")
            paths += found
        else:
            paths.append(item)
    return paths


def read_image(path: Path, image_size: int | None, model: MUNIT, device: torch.device) -> torch.Tensor:
    """One image as [1, 3, H, W] on ``device``; DataError if unreadable."""
    x = preprocess(load_image(path), image_size, multiple=2 ** model.config.n_downsample)
    return x.unsqueeze(0).to(device)


def check_precision(precision: str) -> str:
    if precision not in ("auto", *PRECISIONS):
        raise ConfigError(f"--precision must be auto or one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


def model_device(model: MUNIT) -> torch.device:
    return next(model.parameters()).device
