"""Augmentation of the discriminators' inputs (munit_cli.augment): what each one does to an image."""

from __future__ import annotations

import pytest
import torch

from munit_cli import ConfigError, TrainConfig
from munit_cli.augment import AUGMENTATIONS, TRANSLATION, colour, cutout, policy, translation
from munit_cli.config import DIS_AUGMENTATIONS


def _images(n: int = 8, size: int = 32) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, 3, size, size) * 2 - 1  # no pixel is exactly 0, the fill


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x [C, H, W] moved down dy and right dx, zeros where nothing moved in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = x[:, max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def test_translation_shifts_each_image_by_whole_pixels_within_an_eighth_of_its_side():
    x = _images()
    out = translation(x)
    most = round(32 * TRANSLATION)
    shifts = []
    for image, moved in zip(x, out):
        found = [(dy, dx) for dy in range(-most, most + 1) for dx in range(-most, most + 1)
                 if torch.equal(_shifted(image, dy, dx), moved)]
        assert len(found) == 1, "each output is its input shifted by exactly one offset in range"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # each image draws its own shift


def test_cutout_blanks_one_square_of_half_the_side_clipped_at_the_edges():
    x = _images(16)
    out = cutout(x)
    for image, cut in zip(x, out):
        blank = (cut == 0).all(0)
        rows, cols = blank.any(1).nonzero().flatten(), blank.any(0).nonzero().flatten()
        assert blank.any()
        # one axis-aligned block, at most 16x16 (half of 32), what is left untouched
        assert blank.sum() == len(rows) * len(cols) and len(rows) <= 16 and len(cols) <= 16
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)
        assert torch.equal(cut[:, ~blank], image[:, ~blank])
    assert (out == 0).all(1).flatten(1).sum(1).float().mean() > 0.5 * 16 * 16  # mostly whole squares


def test_colour_changes_each_image_as_a_whole_and_keeps_its_shapes():
    x = torch.full((4, 3, 8, 8), -0.5)
    x[:, 0, 2:6, 2:6] = 0.5  # a red-ish square on grey: two colours
    out = colour(x)
    for image in out:
        assert len(torch.unique(image.flatten(1), dim=1, sorted=False).T) == 2  # still two colours
    assert not torch.allclose(out[0], out[1])  # each image its own change


def test_every_augmentation_passes_gradients_to_its_input():
    x = _images(2).requires_grad_(True)
    for name, augment in AUGMENTATIONS.items():
        x.grad = None
        augment(x).square().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0, name


def test_policy_names_match_the_config_and_bad_names_are_config_errors():
    assert tuple(AUGMENTATIONS) == DIS_AUGMENTATIONS
    assert policy("none") is None
    torch.manual_seed(1)
    x = _images(2)
    out = policy("translation+cutout")(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    with pytest.raises(ConfigError, match="dis_augment must be none or some of translation, cutout, colour"):
        TrainConfig(dis_augment="translation+flip").validate()
