"""`munit data check`: find the images of a dataset that do not decode, before training meets them.
`munit data get`: download a public dataset and lay it out for training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ..files import folder_lock, prepare_file, write_text_atomically
from ._console import console, err_console, fail, styled

if TYPE_CHECKING:
    from ..image_check import CheckResult

SHOWN_BAD = 5  # unreadable files listed on the terminal; all of them go to the file

data_app = typer.Typer(help="Dataset tools.", no_args_is_help=True)


def check_domains(domains: dict[str, list[Path]], cache_file: Path | None = None,
                  bad_list: Path | None = None, quiet: bool = False) -> dict[str, CheckResult]:
    """Decode every image of each domain (with a progress bar), say how many each has and which are
    unreadable; write every unreadable path to ``bad_list``. ``cache_file`` keeps the results."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..image_check import check_images, load_cache, save_cache

    cache = load_cache(cache_file) if cache_file is not None else {}
    total = sum(len(paths) for paths in domains.values())
    results = {}
    with Progress(TextColumn("[bold]checking images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task("check", total=total)
        for name, paths in domains.items():
            results[name] = check_images(paths, cache, on_checked=lambda n: progress.advance(task, n))
    if cache_file is not None:
        save_cache(cache_file, cache)
    bad = [(path, problem) for result in results.values() for path, problem in result.bad.items()]
    if bad_list is not None:
        if bad:
            write_text_atomically(prepare_file(bad_list), "".join(f"{path}\t{problem}\n" for path, problem in bad))
        else:
            bad_list.unlink(missing_ok=True)
    if quiet:
        return results
    counts = ", ".join(f"{name} {len(r.good)} images" for name, r in results.items())
    cached = sum(r.from_cache for r in results.values())
    since = f" ({cached} unchanged since the last check)" if cache_file is not None else ""  # no cache: no last check
    console.print(f"checked {total} images{since}: {counts}", highlight=False)
    if bad:
        where = f"; all of them in {bad_list}" if bad_list is not None else ""
        err_console.print(styled("warning:", "yellow") + f" {len(bad)} unreadable image(s), left out{where}:")
        for path, problem in bad[:SHOWN_BAD]:
            err_console.print(f"  {path}: {problem}", highlight=False)
        if len(bad) > SHOWN_BAD:
            err_console.print(f"  ... and {len(bad) - SHOWN_BAD} more", highlight=False)
    return results


def images_by_split(layout) -> dict[str, list[Path]]:
    """Every domain's images in ``layout``, training and held-out splits apart ("cat (held-out)")."""
    from ..data import find_images

    domains = {}
    for folders in layout.domains.values():
        for split, folder in (("train", folders.train), ("held-out", folders.held_out)):
            if folder is not None:
                domains[f"{folders.name} ({split})" if folders.held_out else folders.name] = find_images(folder)
    return domains


def check(
    root: Annotated[Path, typer.Argument(help="Dataset folder: ROOT/train/<domain> (AFHQ), ROOT/trainA + trainB (CycleGAN) or ROOT/<domain>.",
                                         show_default=False)],
    bad_list: Annotated[Path | None, typer.Option(
        "--bad-list", help="Also write the unreadable files here, one 'path<TAB>problem' a line.")] = None,
) -> None:
    """Decode every image below ROOT, training and held-out splits, and list the unreadable ones.

    Exits with status 1 when any image is unreadable, so it can gate a script.
    """
    from ..layouts import discover

    if bad_list is not None:
        prepare_file(bad_list)  # before decoding every image, not after
    layout = discover(root)
    console.print(f"{root}: {layout.describe()}", highlight=False)
    domains = images_by_split(layout)
    results = check_domains(domains, bad_list=bad_list)
    unreadable = sum(len(r.bad) for r in results.values())
    if unreadable:
        raise fail(f"{unreadable} of {sum(len(p) for p in domains.values())} images are unreadable; "
                   "repair or remove them (training skips them)")
    console.print(styled("all images decode", "green"))


def get(
    name: Annotated[str | None, typer.Argument(help="The dataset (see --list).", show_default=False)] = None,
    root: Annotated[Path, typer.Option("--root", help="Folder to put it in: the dataset lands in ROOT/NAME.")] = Path("data"),
    url: Annotated[str | None, typer.Option("--url", help="Download from this address instead (a mirror, a proxy).",
                                            show_default=False)] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="Use this archive, downloaded elsewhere (a browser, another machine), instead of downloading.",
        show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the datasets this command knows, and exit.")] = False,
) -> None:
    """Download a public dataset and lay it out for `munit train`: AFHQ, CycleGAN's unpaired sets, edges2shoes.

    An interrupted download resumes when the command runs again. The archive is checked, unpacked
    into ROOT/NAME only once complete, and its images decoded (as `munit data check` does); the
    last line is the `munit train` command to run next.
    """
    from .. import datasets

    if list_:
        for dataset in datasets.CATALOGUE.values():
            console.print(f"{dataset.name:24} {dataset.about}", highlight=False)
        return
    if name is None:
        raise fail("name the dataset to get, e.g. `munit data get afhq`; `munit data get --list` shows them all", 2)
    if url is not None and from_file is not None:
        raise fail("give --url (download from there) or --from-file (an archive already here), not both", 2)
    dataset = datasets.find(name)
    dest = root / dataset.name
    if dest.exists():
        console.print(f"{dest} is already there (remove it to get {dataset.name} again)", highlight=False)
    else:
        root.mkdir(parents=True, exist_ok=True)
        with folder_lock(root, f".{dataset.name}.lock", f"`munit data get {dataset.name}`"):
            archive = from_file if from_file is not None else _downloaded(dataset, root, url)
            _install(dataset, archive, dest, downloaded=from_file is None)
    console.print(Text("next: ") + styled(f"munit train {dest} --source {dataset.source} --target {dataset.target}", "bold"))


def _downloaded(dataset, root: Path, url: str | None) -> Path:
    """The dataset's archive in ``root``, downloaded (or resumed) from ``url`` or its addresses."""
    from ..download import DownloadError

    archive = root / dataset.archive_name
    if archive.exists():
        console.print(f"using {archive}, downloaded earlier", highlight=False)
        return archive
    addresses = (url,) if url is not None else dataset.urls
    for i, address in enumerate(addresses):
        console.print(f"downloading {dataset.name} from {address}", highlight=False)
        try:
            return _download_with_progress(address, archive, paired=dataset.paired_domains is not None)
        except DownloadError as e:
            if e.resumable:  # part of it is here: the same address again, not another
                raise
            if i + 1 < len(addresses):  # moved, or its host is down: an address it had before may still serve it
                err_console.print(styled("warning:", "yellow") + f" {e}; trying the address it had before",
                                  highlight=False)
                continue
            raise DownloadError(f"{e}. Download {dataset.archive_name} another way (a browser, another machine) "
                                f"and run `munit data get {dataset.name} --from-file FILE`, or give a mirror with "
                                "--url URL") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _download_with_progress(address: str, archive: Path, paired: bool) -> Path:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from ..download import download, free_bytes, partial_path
    from ..errors import DataError

    with Progress(TextColumn("[bold]downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("download", total=None)

        def started(at) -> None:
            if at.total is not None:
                # room for the rest of the archive and for what it unpacks to (about its size; twice
                # for side-by-side pairs, which are cut in two next to the unpacked originals)
                need = (at.total - at.resumed) + at.total * (2 if paired else 1)
                free = free_bytes(archive.parent)
                resumed = f", resuming at {_size(at.resumed)}" if at.resumed else ""
                console.print(f"{archive.name}: {_size(at.total)}{resumed}; {_size(free)} free on its disk",
                              highlight=False)
                if free < need:
                    raise DataError(f"{archive.parent} needs about {_size(need)} free for {archive.name} and its "
                                    f"images, and its disk has {_size(free)}: free some space, or choose another --root")
            progress.update(task, total=at.total, completed=at.resumed)

        try:
            return download(address, archive, on_start=started, on_bytes=lambda n: progress.advance(task, n))
        except KeyboardInterrupt:
            err_console.print(f"the part downloaded so far is kept ({partial_path(archive)}): run the same "
                              "command again to resume", highlight=False)
            raise


def _install(dataset, archive: Path, dest: Path, downloaded: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..datasets import install
    from ..download import sha256_of
    from ..errors import DataError
    from ..layouts import discover

    if not archive.is_file():
        raise DataError(f"{archive} not found: give the path of the {dataset.archive_name} you downloaded")
    if dataset.sha256 is not None and sha256_of(archive) != dataset.sha256:
        raise DataError(f"{archive} is not the published {dataset.archive_name} (its SHA-256 differs)"
                        + _discard_bad_archive(archive, downloaded))
    console.print(f"unpacking {archive} into {dest}", highlight=False)
    with Progress(TextColumn("[bold]unpacking"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("unpack", total=None)
        try:
            install(dataset, archive, dest, on_progress=lambda done, total: progress.update(task, completed=done,
                                                                                          total=total))
        except DataError as e:
            raise DataError(f"{e}" + _discard_bad_archive(archive, downloaded)) from None
    if downloaded:
        archive.unlink()  # the images are unpacked; the archive would double the space taken
    layout = discover(dest)
    console.print(f"{dest}: {layout.describe()}", highlight=False)
    check_domains(images_by_split(layout))


def _discard_bad_archive(bad_archive: Path, downloaded: bool) -> str:
    """Remove a bad archive this command downloaded (never a --from-file one); return the advice
    that the error message ends with."""
    if downloaded:
        bad_archive.unlink(missing_ok=True)
        return "; removed it: run the command again to download it afresh"
    return "; download it again"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
