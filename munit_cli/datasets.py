"""The public datasets `munit data get` knows: where each is published (its current address first,
then the ones it moved from), and how its archive becomes a folder `munit train` reads.

Installing is atomic: the archive is unpacked into a hidden folder beside the destination and
renamed into place only once it is complete and has its two domains, so an interrupted or failed
extraction never leaves a half-filled dataset folder (no torch here).
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

# CycleGAN's unpaired sets (the names its download script accepts): what domains A and B hold.
CYCLEGAN_SETS = {
    "apple2orange": "apples / oranges", "summer2winter_yosemite": "Yosemite in summer / in winter",
    "horse2zebra": "horses / zebras", "monet2photo": "Monet's paintings / photos",
    "cezanne2photo": "Cezanne's paintings / photos", "ukiyoe2photo": "ukiyo-e prints / photos",
    "vangogh2photo": "Van Gogh's paintings / photos", "maps": "aerial photos / maps",
    "cityscapes": "street photos / their label maps", "facades": "facade photos / their label maps",
    "iphone2dslr_flower": "flowers by a phone / by a DSLR (shallow depth of field)",
}
CYCLEGAN_NOW = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"
CYCLEGAN_BEFORE = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/{}.zip"
PIX2PIX_NOW = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
PIX2PIX_BEFORE = "https://people.eecs.berkeley.edu/~tinghuiz/projects/pix2pix/datasets/{}.tar.gz"


@dataclass(frozen=True)
class Dataset:
    name: str
    about: str
    urls: tuple[str, ...]             # the current address first, then the ones it moved from
    source: str                       # the domains to train between (`munit train --source --target`)
    target: str
    paired_domains: tuple[str, str] | None = None  # side-by-side pairs: names of the left and right halves
    sha256: str | None = None         # of the archive, where the publisher gives one

    @property
    def archive_name(self) -> str:
        return self.urls[0].split("?")[0].rsplit("/", 1)[1]


CATALOGUE: dict[str, Dataset] = {d.name: d for d in [
    Dataset("afhq", "Animal Faces-HQ (StarGAN v2): cat, dog and wild faces at 512x512, about 15,000 images",
            ("https://www.dropbox.com/s/t9l9o3vsx2jai3z/afhq.zip?dl=1",), "dog", "cat"),
    Dataset("afhq-v2", "Animal Faces-HQ v2: AFHQ resized with better resampling (no aliasing), 512x512",
            ("https://www.dropbox.com/s/vkzjokiwof5h8w6/afhq_v2.zip?dl=1",
             "https://www.dropbox.com/s/scckftx13grwmiv/afhq_v2.zip?dl=1"), "dog", "cat"),
    *[Dataset(name, f"CycleGAN's {domains} (domains A / B)",
              (CYCLEGAN_NOW.format(name), CYCLEGAN_BEFORE.format(name)), "A", "B")
      for name, domains in CYCLEGAN_SETS.items()],
    *[Dataset(f"edges2{things}", f"pix2pix's edges / {things} pairs, cut into two unpaired domains "
              "(as the released MUNIT's script does)",
              (PIX2PIX_NOW.format(f"edges2{things}"), PIX2PIX_BEFORE.format(f"edges2{things}")), "edges", things,
              paired_domains=("edges", things)) for things in ("shoes", "handbags")],
]}


def find(name: str) -> Dataset:
    if name not in CATALOGUE:
        raise DataError(f"no dataset called {name!r}; `munit data get --list` shows the {len(CATALOGUE)} known ones")
    return CATALOGUE[name]


def staging_folder(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.unpacking")


def install(dataset: Dataset, archive: Path, dest: Path,
            on_progress: Callable[[int, int], None] = lambda done, total: None) -> Path:
    """Unpack ``archive`` into ``dest`` (which must not exist) in ``dataset``'s training layout.

    Raises DataError, leaving nothing at ``dest``, when the archive is damaged or holds no dataset.
    """
    from .layouts import discover

    staging = staging_folder(dest)
    shutil.rmtree(staging, ignore_errors=True)  # a crashed earlier attempt's leftovers
    staging.mkdir(parents=True)
    try:
        _unpack(archive, staging, on_progress)
        root = _dataset_root(staging)
        if dataset.paired_domains is not None:
            root = _split_pairs(root, staging / "unpaired", dataset.paired_domains, on_progress)
        layout = discover(root)
        missing = [d for d in (dataset.source, dataset.target) if d not in layout.domains]
        if missing:
            raise DataError(f"{archive} unpacked, but holds no {' or '.join(missing)} images "
                            f"({layout.describe()}); is it the {dataset.name} archive?")
        root.replace(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _unpack(archive: Path, into: Path, on_progress: Callable[[int, int], None]) -> None:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = z.infolist()
                for i, member in enumerate(members):
                    z.extract(member, into)
                    on_progress(i + 1, len(members))
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = t.getmembers()
                for i, member in enumerate(members):
                    t.extract(member, into, **_TAR_SAFE)
                    on_progress(i + 1, len(members))
        else:
            raise DataError(f"{archive} is damaged or truncated: it is not a whole zip or tar archive (or is a "
                            "web page saved in its place)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:  # a disk's OSError passes: it says what
        raise DataError(f"{archive} is damaged or truncated ({e})") from None


# Where tarfile has extraction filters (3.12, and the security releases of 3.8 to 3.11), members that
# would land outside the folder (absolute paths, '..', links out) are refused; elsewhere it unpacks as before.
_TAR_SAFE = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _dataset_root(unpacked: Path) -> Path:
    """The folder that holds the dataset: archives wrap it in one folder (``afhq/``), or not."""
    root = unpacked
    while True:
        children = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(children) == 1 and children[0].is_dir():
            root = children[0]
        else:
            return root


def _split_pairs(root: Path, out: Path, names: tuple[str, str], on_progress: Callable[[int, int], None]) -> Path:
    """pix2pix's side-by-side pairs (``root/train/*.jpg``, ``root/val/*.jpg``) as two unpaired
    domains, ``out/{train,test}/{left,right}``, each image cut down the middle."""
    from PIL import Image

    splits = {"train": "train", "val": "test"}
    images = [(p, splits[split]) for split in splits if (root / split).is_dir()
              for p in sorted((root / split).iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    if not images:
        raise DataError(f"no train/ or val/ images of side-by-side pairs in {root}")
    for i, (path, split) in enumerate(images):
        with Image.open(path) as pair:
            width, height = pair.size
            for name, box in zip(names, ((0, 0, width // 2, height), (width // 2, 0, width, height))):
                folder = out / split / name
                folder.mkdir(parents=True, exist_ok=True)
                pair.crop(box).save(folder / path.name, quality=95)
        on_progress(i + 1, len(images))
    return out
