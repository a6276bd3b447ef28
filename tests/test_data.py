"""Dataset discovery and robust image reading with real files decoded by Pillow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from munit_cli import DataError
from munit_cli.data import DomainDataset, EndlessShard, find_images, load_image, preprocess
from munit_cli.layouts import find_domain


def _img(path, mode="RGB", size=(40, 30), color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).convert(mode).save(path)
    return path


def test_afhq_and_flat_layouts(tmp_path):
    _img(tmp_path / "afhq/train/dog/a.jpg")
    _img(tmp_path / "afhq/test/dog/b.png")
    _img(tmp_path / "afhq/train/cat/c.png")
    dog = find_domain(tmp_path / "afhq", "dog")
    assert dog.train == tmp_path / "afhq/train/dog" and dog.held_out == tmp_path / "afhq/test/dog"
    assert find_domain(tmp_path / "afhq", "cat").held_out is None
    _img(tmp_path / "flat/horse/x.png")
    assert find_domain(tmp_path / "flat", "horse").train == tmp_path / "flat/horse"


def test_missing_domain_lists_found_ones(tmp_path):
    _img(tmp_path / "train/dog/a.jpg")
    _img(tmp_path / "train/wild/a.jpg")
    with pytest.raises(DataError, match="domain 'cat' not found.*domains found: dog, wild"):
        find_domain(tmp_path, "cat")
    with pytest.raises(DataError, match="does not exist"):
        find_domain(tmp_path / "nope", "cat")


def test_images_found_recursively_any_case(tmp_path):
    for name in ("a.JPG", "sub/b.jpeg", "sub/deeper/c.PNG", "d.bmp", "e.webp"):
        _img(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert len(find_images(tmp_path)) == 5


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    ext = "jpg" if mode == "CMYK" else "png"
    path = _img(tmp_path / f"x.{ext}", mode)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (40, 30)


def test_sixteen_bit_keeps_its_range(tmp_path):
    arr = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    rgb = np.asarray(load_image(path))
    assert rgb.min() == 0 and rgb.max() == 255  # scaled, not clipped to white


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_unreadable_files_raise_data_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"nonsense" * 10)
    with pytest.raises(DataError, match="bad.png: cannot read image"):
        load_image(bad)
    good = _img(tmp_path / "good.jpg", size=(64, 64))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated.jpg"):
        load_image(truncated)


def test_dataset_skips_bad_images_and_reports_them(tmp_path):
    good = _img(tmp_path / "a.png", size=(20, 50))
    bad = tmp_path / "b.png"
    bad.write_bytes(b"broken")
    ds = DomainDataset([bad, good], 16, "dog")
    x, skipped = ds[(0, 123)]
    assert x.shape == (3, 16, 16) and -1 <= x.min() and x.max() <= 1  # small images are scaled up
    assert skipped == [str(bad)]
    with pytest.raises(DataError, match="no images"):
        DomainDataset([], 16, "cat")


def test_endless_shard_resumes_exactly_and_splits_ranks():
    full = EndlessShard(10, seed=3)
    stream = iter(full)
    first = [next(stream) for _ in range(25)]
    resumed = iter(EndlessShard(10, seed=3, start=13))
    assert [next(resumed) for _ in range(12)] == first[13:]
    ranks = [iter(EndlessShard(10, seed=3, rank=r, world_size=2)) for r in range(2)]
    epoch = [next(s)[0] for s in ranks for _ in range(5)]
    assert sorted(epoch) == list(range(10))  # disjoint shards that cover the epoch


def test_augmentation_is_a_function_of_the_seed(tmp_path):
    ds = DomainDataset([_img(tmp_path / "a.png", size=(60, 40), color=(10, 200, 90))], 32)
    torch.testing.assert_close(ds[(0, 5)][0], ds[(0, 5)][0])


def test_transforms_equal_torchvisions():
    """data.py resizes and crops with Pillow itself (torchvision's import costs seconds): same pixels."""
    import torchvision.transforms.functional as TF

    rng = np.random.default_rng(0)
    for w, h in [(96, 80), (80, 96), (33, 57), (256, 256), (300, 199), (31, 32)]:
        img = Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
        for size in (17, 32, 64):
            resized = TF.resize(img, size, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
            want = TF.to_tensor(TF.center_crop(resized, [size, size])) * 2 - 1
            assert torch.equal(preprocess(img, size), want), (w, h, size)
        want = TF.to_tensor(TF.center_crop(img, [h - h % 4, w - w % 4])) * 2 - 1
        assert torch.equal(preprocess(img, None), want), (w, h)


def test_cyclegan_layout_and_two_domains_picked_without_flags(tmp_path):
    from munit_cli.layouts import discover

    for folder in ("trainA", "trainB", "testA", "testB"):
        _img(tmp_path / "h2z" / folder / "x.png")
    layout = discover(tmp_path / "h2z")
    assert layout.kind == "cyclegan" and list(layout.domains) == ["A", "B"]
    assert layout.domain("B").held_out == tmp_path / "h2z/testB"
    assert layout.pick_pair(None, None) == ("A", "B")
    assert layout.pick_pair(None, "A") == ("B", "A")


def test_three_domains_need_flags_and_the_error_lists_them(tmp_path):
    from munit_cli.layouts import discover

    for name in ("cat", "dog", "wild"):
        _img(tmp_path / "afhq/train" / name / "x.png")
    layout = discover(tmp_path / "afhq")
    assert layout.kind == "split"
    with pytest.raises(DataError, match=r"3 domains \(cat, dog, wild\); say which two with --source and --target"):
        layout.pick_pair(None, None)
    assert layout.pick_pair("dog", "cat") == ("dog", "cat")
    with pytest.raises(DataError, match="domain 'horse' not found.*domains found: cat, dog, wild"):
        layout.pick_pair("horse", "cat")
    with pytest.raises(DataError, match="domain 'horse' not found.*domains found: cat, dog, wild"):
        layout.pick_pair("horse", None)  # one domain given, misspelt: named as such, not "say which two"
