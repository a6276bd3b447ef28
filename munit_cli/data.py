"""Image files: finding them, robust reading, transforms, writing (domain folders: ``layouts``).

This is the only module that reads or writes image files.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset, DistributedSampler, Sampler

from .errors import ConfigError, DataError
from .files import refuse_folder, write_text_atomically
from .layouts import DomainFolders

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# What PIL raises for files that are not images, are truncated or are otherwise broken.
IMAGE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


# ---------------------------------------------------------------------------------------------
# Finding images.


def find_images(folder: Path) -> list[Path]:
    """Every image below ``folder`` (recursive, any letter case), sorted for reproducibility; or,
    when ``folder`` is a text file, the image paths it lists (one a line, relative to its folder).
    Listed files that are missing are kept: the image check reports them with the unreadable ones."""
    folder = Path(folder)
    if folder.is_file():
        lines = (line.strip() for line in folder.read_text().splitlines())
        return [folder.parent / line for line in lines if line and not line.startswith("#")]
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def no_images_error(name: str) -> DataError:
    return DataError(f"domain {name!r} has no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")


# ---------------------------------------------------------------------------------------------
# Reading and writing images.


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """Open an image as RGB with its EXIF orientation applied; DataError if it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except IMAGE_ERRORS as e:
        raise DataError(f"{path}: cannot read image ({e})") from None


def image_dimensions(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it; DataError if it is not an image."""
    try:
        with Image.open(path) as img:
            return img.size
    except IMAGE_ERRORS as e:
        raise DataError(f"{path}: not an image ({e})") from None


# The transforms work on Pillow images directly: torchvision's functional transforms do the same
# for Pillow inputs, but importing torchvision loads torch._dynamo with it (2 s per command here).


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is ``size`` (up or down), bicubic; the longer side rounds down."""
    w, h = img.size
    short, long = min(w, h), max(w, h)
    long = int(size * long / short)
    new = (size, long) if w <= h else (long, size)
    return img if new == (w, h) else img.resize(new, Image.Resampling.BICUBIC)


def center_crop(img: Image.Image, height: int, width: int) -> Image.Image:
    """The central ``height`` x ``width`` window (the offsets rounded as torchvision rounds them)."""
    w, h = img.size
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return img.crop((left, top, left + width, top + height))


def to_model_range(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> float tensor [3, H, W] in [-1, 1]."""
    pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)
    return pixels.float().div_(255).mul_(2).sub_(1)  # torchvision's to_tensor, then to [-1, 1]


def preprocess(img: Image.Image, size: int | None, multiple: int = 4) -> torch.Tensor:
    """Evaluation transform: shorter side to ``size`` and a centre square crop; without a size, a
    centre crop to the nearest multiple of ``multiple`` (what the encoder/decoder pair needs)."""
    if size is not None:
        return to_model_range(center_crop(resize_shorter(img, size), size, size))
    w, h = img.size
    if min(w, h) < multiple:
        raise DataError(f"image of {w}x{h} pixels is too small; pass --image-size")
    return to_model_range(center_crop(img, h - h % multiple, w - w % multiple))


def train_transform(img: Image.Image, size: int, generator: torch.Generator) -> torch.Tensor:
    """SPEC's training transform: resize shorter side, random crop, random horizontal flip, [-1, 1]."""
    img = resize_shorter(img, size)
    w, h = img.size
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    img = img.crop((left, top, left + size, top + size))
    if torch.rand((), generator=generator) < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_model_range(img)


def to_pil(x: torch.Tensor) -> Image.Image:
    """[3, H, W] in [-1, 1] -> PIL RGB."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(x.permute(1, 2, 0).numpy(), "RGB")


def image_format(path: Path) -> str:
    """The Pillow format ``path``'s extension names, checked before any work: a folder, or a name
    Pillow cannot write, is an error that says so."""
    refuse_folder(path)
    pil_format = Image.registered_extensions().get(path.suffix.lower())
    if pil_format is None or pil_format not in Image.SAVE:
        problem = f"{path.suffix!r} is not an image format Pillow writes" if path.suffix else "the name has no extension"
        raise ConfigError(f"{path}: {problem}; end the name in .png, .jpg or .webp")
    return pil_format


def save_image(x: torch.Tensor | Image.Image, path: str | Path) -> Path:
    """Write an image file atomically (a temporary file, then a rename), in the format its extension names."""
    path = Path(path)
    pil_format = image_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = x if isinstance(x, Image.Image) else to_pil(x)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format=pil_format)
    tmp.replace(path)
    return path


def image_grid(rows: Sequence[Sequence[torch.Tensor]], column_labels: Sequence[str] = (),
               row_labels: Sequence[str] = (), pad: int = 2) -> Image.Image:
    """Lay images ([3, H, W] in [-1, 1]) out in a labelled grid on a white background."""
    h, w = rows[0][0].shape[-2:]
    n_cols = max(len(r) for r in rows)
    label_h = 14 if column_labels else 0
    label_w = 8 + 6 * max((len(s) for s in row_labels), default=0) if row_labels else 0
    canvas = Image.new("RGB", (label_w + n_cols * (w + pad) + pad, label_h + len(rows) * (h + pad) + pad),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for j, text in enumerate(column_labels):
        draw.text((label_w + pad + j * (w + pad), 1), text[: max(1, w // 6)], fill="black")
    for i, row in enumerate(rows):
        y = label_h + pad + i * (h + pad)
        if i < len(row_labels):
            draw.text((2, y + h // 2 - 5), row_labels[i], fill="black")
        for j, img in enumerate(row):
            canvas.paste(to_pil(img), (label_w + pad + j * (w + pad), y))
    return canvas


def _eval_table(path: Path) -> str:
    if not path.is_file():
        return ""
    rows = "\n".join(f"<tr><td>{r['step']}</td><td>{html.escape(r['direction'])}</td><td>{r['eval/fid']:.2f}</td>"
                     f"<td>{r['eval/lpips']:.4f}</td><td>{r['inputs']} x {r['styles']}</td></tr>"
                     for r in reversed(json.loads(path.read_text())))
    return ("<h1>Evaluations (newest first)</h1>\n<table><tr><th>step</th><th>direction</th><th>FID</th>"
            f"<th>LPIPS diversity</th><th>inputs x styles</th></tr>\n{rows}\n</table>\n")


def _enlarged(grid: Path, target_width: int = 1200) -> str:
    """A width attribute that enlarges a small grid (a 32x32 model's is a few hundred pixels wide) by
    a whole factor up to 4, drawn without smoothing (``image-rendering: pixelated``)."""
    try:
        with Image.open(grid) as img:
            width = img.width
    except OSError:
        return ""
    zoom = max(1, min(4, target_width // width))
    return f' width="{width * zoom}"' if zoom > 1 else ""


def write_sample_index(samples_dir: Path) -> Path:
    """(Re)write ``index.html`` showing every sample grid, newest first, below the table of
    evaluations (``eval.json``, written by ``--eval-every``) when there is one."""
    pages = sorted(samples_dir.glob("step-*.png"), reverse=True)
    size = _enlarged(pages[0]) if pages else ""  # a run's grids are all one size: read one header, not all
    items = "\n".join(f'<h2>{html.escape(p.stem)}</h2>\n<img src="{html.escape(p.name)}"{size}>' for p in pages)
    page = ("<!doctype html>\n<html><head><meta charset='utf-8'><title>munit samples</title>"
            "<style>body{font-family:sans-serif} img{image-rendering:pixelated;max-width:100%} "
            "td,th{padding:2px 12px;text-align:right}</style>"
            f"</head><body>\n{_eval_table(samples_dir / 'eval.json')}<h1>Samples (newest first)</h1>\n{items}\n"
            "</body></html>\n")
    index = samples_dir / "index.html"
    write_text_atomically(index, page)
    return index


# ---------------------------------------------------------------------------------------------
# Training data.


class DomainDataset(Dataset):
    """One domain's training images. Keys are (index, augmentation seed) pairs from ``EndlessShard``.

    An unreadable image is skipped (the next one is used instead) and its path is returned with the
    sample, so the training loop can report it once; training never stops on one bad file.
    """

    def __init__(self, paths: Sequence[Path], image_size: int, name: str = ""):
        if not paths:
            raise no_images_error(name)
        self.paths = list(paths)
        self.image_size = image_size
        self.name = name

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, list[str]]:
        index, seed = key
        bad: list[str] = []
        for attempt in range(min(len(self.paths), 16)):
            path = self.paths[(index + attempt) % len(self.paths)]
            try:
                img = load_image(path)
            except DataError:
                bad.append(str(path))
                continue
            generator = torch.Generator().manual_seed(seed)
            return train_transform(img, self.image_size, generator), bad
        raise DataError(f"domain {self.name!r}: {len(bad)} images in a row could not be read "
                        f"(e.g. {bad[0]}); check the folder")


def collate(batch: list[tuple[torch.Tensor, list[str]]]) -> tuple[torch.Tensor, list[str]]:
    return torch.stack([x for x, _ in batch]), [p for _, bad in batch for p in bad]


class EndlessShard(Sampler):
    """This rank's endless stream of (index, augmentation seed) keys, epoch after epoch.

    Each epoch is a ``DistributedSampler`` permutation reseeded with the epoch number, so ranks read
    disjoint shards. The stream is a pure function of (seed, rank, world size, position): resuming
    at ``start`` samples replays exactly what an uninterrupted run would have read.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0, salt: int = 0):
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.start, self.salt = start, salt

    def _epoch(self, epoch: int) -> list[int]:
        sampler = DistributedSampler(range(self.n), num_replicas=self.world_size, rank=self.rank,
                                     shuffle=True, seed=self.seed + self.salt)
        sampler.set_epoch(epoch)
        return list(sampler)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_epoch = math.ceil(self.n / self.world_size)
        epoch, offset = divmod(self.start, per_epoch)
        while True:
            for position, index in enumerate(self._epoch(epoch)[offset:], start=offset):
                # Python hashes tuples of ints the same way in every process: a stable seed.
                yield index, hash((self.seed, self.salt, epoch, self.rank, position)) & 0x7FFFFFFF
            epoch, offset = epoch + 1, 0


def held_out_batch(folders: DomainFolders, train_paths: Sequence[Path], n: int, image_size: int) -> torch.Tensor:
    """The first ``n`` readable held-out images (training images if there is no held-out split)."""
    candidates = find_images(folders.held_out) if folders.held_out else list(train_paths)
    images = []
    for path in candidates:
        try:
            images.append(preprocess(load_image(path), image_size))
        except DataError:
            continue
        if len(images) == n:
            break
    if not images:
        raise DataError(f"domain {folders.name!r}: no readable image for the sample grid")
    return torch.stack(images)
