"""`munit data check`: find the images of a dataset that do not decode, before training meets them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..files import prepare_file, write_text_atomically
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


def check(
    root: Annotated[Path, typer.Argument(help="Dataset folder: ROOT/train/<domain> (AFHQ), ROOT/trainA + trainB (CycleGAN) or ROOT/<domain>.",
                                         show_default=False)],
    bad_list: Annotated[Path | None, typer.Option(
        "--bad-list", help="Also write the unreadable files here, one 'path<TAB>problem' a line.")] = None,
) -> None:
    """Decode every image below ROOT, training and held-out splits, and list the unreadable ones.

    Exits with status 1 when any image is unreadable, so it can gate a script.
    """
    from ..data import find_images
    from ..layouts import discover

    if bad_list is not None:
        prepare_file(bad_list)  # before decoding every image, not after
    layout = discover(root)
    console.print(f"{root}: {layout.describe()}", highlight=False)
    domains = {}
    for folders in layout.domains.values():
        for split, folder in (("train", folders.train), ("held-out", folders.held_out)):
            if folder is not None:
                domains[f"{folders.name} ({split})" if folders.held_out else folders.name] = find_images(folder)
    results = check_domains(domains, bad_list=bad_list)
    unreadable = sum(len(r.bad) for r in results.values())
    if unreadable:
        raise fail(f"{unreadable} of {sum(len(p) for p in domains.values())} images are unreadable; "
                   "repair or remove them (training skips them)")
    console.print(styled("all images decode", "green"))
