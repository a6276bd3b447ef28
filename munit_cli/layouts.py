"""Dataset layouts: where each domain's training and held-out images are, found from the folder.

One module decides this for `munit train`, `munit eval` and `munit data check`. Known layouts:

- split (AFHQ, StarGAN v2): ``ROOT/train/<domain>``, held out in ``ROOT/test/<domain>`` or ``ROOT/val/<domain>``;
- CycleGAN / released MUNIT: ``ROOT/trainA``, ``ROOT/trainB``, held out in ``ROOT/testA``, ``ROOT/testB``
  (the domains are called ``A`` and ``B``; any suffix works: ``trainX`` is domain ``X``);
- flat: ``ROOT/<domain>``, no held-out split;
- explicit: two folders named on the command line (``--source-dir``, ``--target-dir``), held-out
  folders optional. Any of these "folders" may instead be a text file listing image paths, one a
  line (the released MUNIT's list format; relative paths are relative to the list's folder).

A training run records its layout in ``run.json`` (``to_run``), so resuming, ``eval`` and
``style-sample`` find the same images (``from_run``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .runs import RUN_FILE

TRAIN_SPLITS = ("train",)
HELD_OUT_SPLITS = ("test", "val")


@dataclass(frozen=True)
class DomainFolders:
    """Where one domain's training and held-out images live."""

    name: str
    train: Path
    held_out: Path | None


@dataclass(frozen=True)
class Layout:
    root: Path
    kind: str  # "split", "cyclegan", "flat" or "explicit"
    domains: dict[str, DomainFolders]

    def describe(self) -> str:
        what = {"split": "split layout (train/<domain>, held out in test|val/<domain>)",
                "cyclegan": "CycleGAN layout (train<X>, held out in test<X>)",
                "flat": "flat layout (<domain>, no held-out split)",
                "explicit": "folders given (--source-dir, --target-dir)"}[self.kind]
        return f"{what}; domains {', '.join(self.domains) or 'none'}"

    def domain(self, name: str) -> DomainFolders:
        if name not in self.domains:
            listing = ", ".join(self.domains) or "none"
            raise DataError(f"domain {name!r} not found in {self.root} ({self.kind} layout); domains found: {listing}")
        return self.domains[name]

    def pick_pair(self, source: str | None, target: str | None) -> tuple[str, str]:
        """The source and target domains: as given, or, when the root has exactly two domains,
        the one not given (both left out: source is the first in sorted order)."""
        names = sorted(self.domains)
        if source is None or target is None:
            given = source or target
            if given is not None:
                self.domain(given)  # a misspelt domain: the error lists the ones found
            if len(names) != 2:
                raise DataError(f"{self.root} has {len(names)} domains ({', '.join(names) or 'none'}); "
                                "say which two with --source and --target")
            if given is None:
                source, target = names
            elif source is None:
                source = next(n for n in names if n != target)
            else:
                target = next(n for n in names if n != source)
        if source == target:
            raise DataError(f"--source and --target are both {source!r}; pick two different domains")
        self.domain(source), self.domain(target)  # exist, or the error lists what does
        return source, target

    def to_run(self) -> dict:
        """What ``run.json`` keeps of this layout (absolute paths: a resume may start elsewhere)."""
        def absolute(path: Path | None) -> str | None:
            return str(Path(path).resolve()) if path is not None else None

        return {"root": absolute(self.root), "layout": self.kind,
                "folders": {name: {"train": absolute(f.train), "held_out": absolute(f.held_out)}
                            for name, f in self.domains.items()}}


def from_run(run: dict) -> Layout:
    """The layout a run trained on, from its ``run.json`` (older runs kept only the root)."""
    if "folders" not in run:
        return discover(run["root"])
    domains = {name: DomainFolders(name, Path(f["train"]), Path(f["held_out"]) if f["held_out"] else None)
               for name, f in run["folders"].items()}
    for folders in domains.values():
        for path in (folders.train, folders.held_out):
            if path is not None and not path.exists():
                raise DataError(f"the run's data is no longer at {path} (moved or deleted?)")
    return Layout(Path(run["root"]), run.get("layout", "explicit"), domains)


def of_checkpoint(checkpoint: str | Path) -> Layout | None:
    """The layout the training run of ``checkpoint`` (``RUN/checkpoints/X.safetensors``) used, from
    ``RUN/run.json``; None for a checkpoint outside a run. A run whose data has moved is a DataError."""
    run_file = Path(checkpoint).resolve().parent.parent / RUN_FILE
    try:
        run = json.loads(run_file.read_text())
    except (OSError, ValueError):
        return None
    return from_run(run)


def explicit(source: Path, target: Path, source_held_out: Path | None = None, target_held_out: Path | None = None,
             names: tuple[str | None, str | None] = (None, None)) -> Layout:
    """Two domains from folders (or image lists) named on the command line; each domain is called
    by its folder's name unless ``names`` says otherwise."""
    paths = {"--source-dir": source, "--target-dir": target, "--source-held-out": source_held_out,
             "--target-held-out": target_held_out}
    for flag, path in paths.items():
        if path is not None and not Path(path).exists():
            raise DataError(f"{flag} {path} does not exist")
    source_name = names[0] or Path(source).stem
    target_name = names[1] or Path(target).stem
    if source_name == target_name:
        raise DataError(f"both folders are called {source_name!r}; name the domains with --source and --target")
    domains = {source_name: DomainFolders(source_name, Path(source), source_held_out),
               target_name: DomainFolders(target_name, Path(target), target_held_out)}
    root = Path(os.path.commonpath([Path(source).resolve(), Path(target).resolve()]))
    return Layout(root, "explicit", domains)


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _first_dir(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_dir()), None)


def discover(root: str | Path) -> Layout:
    """The layout of ``root`` and its domains (a root with none is an error)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist; point to a folder holding one subfolder per "
                        "domain (ROOT/<domain>, ROOT/train/<domain>, or ROOT/trainA + ROOT/trainB)")
    train_root = _first_dir(*(root / s for s in TRAIN_SPLITS))
    subfolders = _subfolders(root)
    if train_root is not None:
        kind = "split"
        domains = {name: DomainFolders(name, train_root / name, _first_dir(*(root / s / name for s in HELD_OUT_SPLITS)))
                   for name in _subfolders(train_root)}
    elif any(_cyclegan_domain(name) for name in subfolders):
        kind = "cyclegan"
        domains = {}
        for folder in subfolders:
            name = _cyclegan_domain(folder)
            if name:
                domains[name] = DomainFolders(name, root / folder,
                                              _first_dir(*(root / f"{s}{name}" for s in HELD_OUT_SPLITS)))
    else:
        kind = "flat"
        domains = {name: DomainFolders(name, root / name, None) for name in subfolders}
    if not domains:
        raise DataError(f"no domain folders in {root}; expected ROOT/<domain>, ROOT/train/<domain>, "
                        "or ROOT/trainA + ROOT/trainB")
    return Layout(root, kind, domains)


def _cyclegan_domain(folder: str) -> str | None:
    """``trainA`` -> ``A``; anything else -> None."""
    for split in TRAIN_SPLITS:
        if folder.startswith(split) and len(folder) > len(split):
            return folder[len(split):].lstrip("_-") or None
    return None


def find_domain(root: str | Path, name: str) -> DomainFolders:
    return discover(root).domain(name)
