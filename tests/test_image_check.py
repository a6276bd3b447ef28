"""Unreadable images are found before training, named, listed in a file, cached, and left out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from munit_cli.cli import app
from munit_cli.demo import make_shapes_dataset
from munit_cli.image_check import check_images, image_problem

from .conftest import TINY_TOML


def _photo(path: Path, size: int = 512) -> Path:
    """A JPEG with real detail (noise over a gradient), so its entropy-coded data is long."""
    rng = np.random.default_rng(len(path.name))
    ramp = np.linspace(0, 255, size)[None, :, None]
    pixels = np.clip(ramp + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _truncate(path: Path, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_truncated_jpeg_is_found_though_it_opens(tmp_path):
    good = _photo(tmp_path / "good.jpg")
    bad = _truncate(_photo(tmp_path / "bad.jpg"))
    with Image.open(bad) as img:
        assert img.size == (512, 512)  # the header is intact: opening alone would not notice
    assert image_problem(good) is None
    assert "truncated" in image_problem(bad)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "text.jpg").write_text("hello")
    assert image_problem(tmp_path / "junk.png") and image_problem(tmp_path / "text.jpg")
    assert image_problem(tmp_path / "listed-but-gone.jpg") == "No such file or directory"  # an image list's stale line


def test_results_are_cached_by_path_size_and_mtime(tmp_path):
    paths = [_photo(tmp_path / f"{i}.jpg", 64) for i in range(5)]
    _truncate(paths[2])
    cache: dict = {}
    first = check_images(paths, cache)
    assert first.bad.keys() == {paths[2]} and first.good == [p for p in paths if p != paths[2]]
    assert first.from_cache == 0
    again = check_images(paths, cache)
    assert again.from_cache == 5 and again.bad == first.bad
    _photo(paths[2], 64)  # repaired: new size and mtime
    os.utime(paths[3], ns=(0, 0))  # touched
    third = check_images(paths, cache)
    assert third.from_cache == 3 and not third.bad


def test_the_cache_holds_for_relative_and_absolute_spellings(tmp_path, monkeypatch):
    """A run trained on ./afhq resumes with run.json's absolute paths: the same files, one cache."""
    (tmp_path / "data").mkdir()
    paths = [_photo(tmp_path / "data" / f"{i}.jpg", 64) for i in range(3)]
    cache: dict = {}
    monkeypatch.chdir(tmp_path)
    relative = check_images([p.relative_to(tmp_path) for p in paths], cache)
    assert relative.from_cache == 0 and relative.good == [Path("data") / p.name for p in paths]
    absolute = check_images(paths, cache)
    assert absolute.from_cache == 3 and absolute.good == paths


def test_train_names_bad_images_before_the_first_step(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", n_train=6, n_test=1, size=32)
    bad = [_truncate(_photo(root / "train" / "paint" / f"broken{i}.jpg", 64)) for i in range(7)]
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(root), "-s", "sketch", "-t", "paint", "--out", str(out),
                                      "--config", str(tmp_path / "tiny.toml"), "--iterations", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "checked 19 images" in text and "sketch 6 images, paint 6 images" in text
    assert "7 unreadable image(s), left out; all of them in" in text and "... and 2 more" in text
    assert text.index("unreadable image(s)") < text.index("munit train")  # before training starts
    listed = (out / "bad_images.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(map(str, bad))
    assert "skipped" not in text.split("munit train", 1)[1]  # none met during training


def test_data_check_command(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", n_train=3, n_test=1, size=32)
    run = CliRunner().invoke(app, ["data", "check", str(root)])
    assert run.exit_code == 0, run.output
    assert "sketch (train) 3 images, sketch (held-out) 1 images" in run.output and "all images decode" in run.output
    broken = _truncate(_photo(root / "test" / "sketch" / "x.jpg", 64))
    listing = tmp_path / "lists" / "bad.txt"  # its folder is made
    run = CliRunner().invoke(app, ["data", "check", str(root), "--bad-list", str(listing)])
    assert run.exit_code == 1
    assert str(broken) in run.output and "1 of 9 images are unreadable" in run.output
    assert listing.read_text().startswith(f"{broken}\t")
    # A --bad-list that cannot be written stops the check before it decodes anything.
    run = CliRunner().invoke(app, ["data", "check", str(root), "--bad-list", str(tmp_path)])
    assert run.exit_code == 1 and f"{tmp_path}: Is a directory" in run.output and "images" not in run.output
    missing = CliRunner().invoke(app, ["data", "check", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
