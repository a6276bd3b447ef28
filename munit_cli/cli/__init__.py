"""The `munit` command: a Typer app with one module per command."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from ._console import console, handle_errors
from .demo import demo
from .export import export
from .import_official import import_official
from .info import info
from .style_sample import style_sample
from .train import train
from .translate import translate

app = typer.Typer(
    name="munit",
    help="Train and run MUNIT: multimodal unsupervised image-to-image translation.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)

for name, command in (("train", train), ("demo", demo), ("translate", translate),
                      ("style-sample", style_sample), ("export", export), ("info", info),
                      ("import-official", import_official)):
    app.command(name)(handle_errors(command))


def _version(value: bool) -> None:
    if value:
        console.print(f"munit-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None) -> None:
    """Train and run MUNIT: multimodal unsupervised image-to-image translation.

    Set MUNIT_DEBUG=1 to see full tracebacks.
    """


def main() -> None:
    app()
