"""The `munit` command: a Typer app with one module per command.

Command modules import torch and the model stack inside their functions, so that parsing the
command line (and `--help`) answers at once.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from typing import Annotated

import typer

from .. import __version__
from ._console import console, err_console, handle_errors, print_error
from .data import check, data_app, get
from .demo import demo
from .eval import eval_command
from .export import export
from .import_official import import_official
from .info import info
from .serve import serve
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


def _show_no_type_beside_flags() -> None:
    """Typer's help prints each option's type beside it; for an on/off flag that is ``<bool>``
    beside every one, which tells nothing a flag's name does not. Values keep theirs (``<int>``)."""
    from typer.core import TyperOption

    if not hasattr(TyperOption, "display_type_rich"):  # older Typers print no types at all
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag and not self.count else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_show_no_type_beside_flags()


def _help_of(command) -> str:
    """The command's docstring as help text, each paragraph on one line: Typer's rich mode keeps a
    docstring's single line breaks, which land mid-sentence once the terminal rewraps the text."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in paragraphs)


for name, command in (("train", train), ("demo", demo), ("translate", translate),
                      ("style-sample", style_sample), ("export", export), ("eval", eval_command), ("serve", serve), ("info", info),
                      ("import-official", import_official)):
    app.command(name, help=_help_of(command))(handle_errors(command))
data_app.command("check", help=_help_of(check))(handle_errors(check))
data_app.command("get", help=_help_of(get))(handle_errors(get))
app.add_typer(data_app, name="data")


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


# click's exception types, whether typer uses click or its own copy of it.
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _PipeClosed(SystemExit):
    """The reader of our output went away (``munit --help | head -1``)."""


def _on_broken_pipe(console) -> None:
    """Rich's own handling (later writes go to /dev/null), then _PipeClosed instead of its exit 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise _PipeClosed(141)


def main() -> None:
    """The `munit` entry point. A usage error is two short lines (what is wrong, where the help is)
    instead of Typer's framed box. A closed pipe ends quietly: status 0 for help and --version
    (``munit --help | head -1`` got what it asked for), 141 (SIGPIPE's) for a command's output."""
    import rich.console

    rich.console.Console.on_broken_pipe = _on_broken_pipe  # every console's, Typer's help included
    # Pillow warns about images over 89 megapixels, a guard meant for untrusted uploads. Here they are
    # the user's own photos (serve refuses uploads over 40 megapixels before decoding), so the warning
    # is noise; Pillow's error for twice that size still stops the decode, and is reported as such.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    try:
        status = app(standalone_mode=False)
    except _PipeClosed:
        asked_for_help = not sys.argv[1:] or any(a in ("-h", "--help", "--version") for a in sys.argv[1:])
        status = 0 if asked_for_help else 141
    except typer.Abort:
        print_error("aborted")
        status = 1
    except _CLICK_EXCEPTION as e:
        context = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and context is not None:  # `munit` or `munit data` alone
            console.print(context.get_help(), highlight=False)
            sys.exit(0)
        print_error(e.format_message())
        if context is not None:
            err_console.print(f"See '{context.command_path} --help'.", highlight=False)
        status = e.exit_code
    sys.exit(status if isinstance(status, int) else 0)
