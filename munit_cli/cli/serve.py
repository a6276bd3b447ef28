"""`munit serve`: a local web page (Gradio) to translate, explore styles and compare references.

The page only arranges ``munit_cli.serve``'s handlers; each returns its images and a status line,
and a bad input becomes an ``error: ...`` status on the page, never a stack trace.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import MunitError
from ._console import console, err_console, styled
from ._options import CheckpointAliasOpt, DeviceOpt, ImageSizeOpt, PrecisionOpt, one_checkpoint

if TYPE_CHECKING:
    from ..serve import Translator

EXPLORER_DIMS = 4
EXAMPLES = 8


def held_out_examples(checkpoint: Path, source: str) -> list[str]:
    """A few held-out images of the run's source domain, when the run's data is reachable."""
    from ..data import find_images
    from ..layouts import of_checkpoint

    try:
        layout = of_checkpoint(checkpoint)
        folders = layout.domain(source) if layout is not None else None
    except MunitError:  # the run's data has moved: no examples, the page works without
        return []
    return [str(p) for p in find_images(folders.held_out)[:EXAMPLES]] if folders and folders.held_out else []


def build_page(translator: Translator, title: str, examples: list[str]):
    """The Gradio Blocks of the page."""
    import gradio as gr
    import torch

    from ..errors import DataError
    from ..serve import MAX_STYLES, explored, interpolation

    directions = translator.directions()
    labels = list(directions)

    def guarded(handler, n_outputs: int):
        """Run a handler; on bad input, empty outputs and the message as the status line."""
        def run(*args):
            try:
                return handler(*args)
            except DataError as e:
                return (*([None] * n_outputs), f"**error:** {e}")
        return run

    def timing(result, what: str) -> str:
        return f"{what} in {result.seconds:.2f} s"

    def on_random(path, label, n, seed):
        result = translator.random_styles(path, directions[label], int(n), int(seed))
        return result.source, result.images, result.styles, timing(result, f"{len(result.images)} style(s)")

    def on_interpolate(path, label, styles, first, second, t):
        if styles is None:
            raise DataError("make a gallery of random styles first, then pick two of them")
        result = translator.with_styles(path, directions[label], interpolation(styles, int(first), int(second), t))
        return result.images[0], timing(result, f"style {first} → {second} at {t:.2f}")

    def on_reference(path, label, reference):
        result = translator.reference_style(path, directions[label], reference)
        return result.images[0], timing(result, "reference style")

    def on_explore(path, label, styles, base, *values):
        start = styles[int(base) - 1] if styles is not None and 1 <= int(base) <= len(styles) \
            else torch.zeros(translator.style_dim)
        result = translator.with_styles(path, directions[label], explored(start, list(values)))
        return result.images[0], timing(result, "explorer")

    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(f"# {title}")
        styles = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                source = gr.File(label="Image to translate", file_types=["image"], elem_id="source-file")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[source], label="Held-out examples")
                direction = gr.Radio(labels, value=labels[0], label="Direction", elem_id="direction")
                preview = gr.Image(label="Input, as the model sees it", format="png", type="pil", interactive=False,
                                   height=180, buttons=["download", "fullscreen"], elem_id="input-preview")
                status = gr.Markdown("Upload an image, then press Translate.", elem_id="status")
            with gr.Column(scale=3):
                with gr.Tab("Random styles"):
                    with gr.Row():
                        n_styles = gr.Number(4, label=f"Styles (1-{MAX_STYLES})", precision=0, minimum=1,
                                             maximum=MAX_STYLES, elem_id="n-styles")
                        seed = gr.Number(0, label="Seed", precision=0, elem_id="seed")
                        run = gr.Button("Translate", variant="primary", elem_id="translate")
                        reroll = gr.Button("Reroll", elem_id="reroll")
                    gallery = gr.Gallery(label="Translations", format="png", columns=4, elem_id="gallery",
                                         buttons=["download", "fullscreen"])
                with gr.Tab("Interpolate"):
                    with gr.Row():
                        first = gr.Number(1, label="From gallery style", precision=0, elem_id="interp-from")
                        second = gr.Number(2, label="To gallery style", precision=0, elem_id="interp-to")
                    position = gr.Slider(0, 1, value=0.5, step=0.05, label="Position", elem_id="interp-t")
                    walked = gr.Image(label="Interpolated", format="png", type="pil", interactive=False,
                                      buttons=["download"], elem_id="interp-output")
                with gr.Tab("Reference style"):
                    reference = gr.File(label="Target-domain reference image", file_types=["image"],
                                        elem_id="reference-file")
                    apply_reference = gr.Button("Apply its style", elem_id="reference-run")
                    referenced = gr.Image(label="In the reference's style", format="png", type="pil",
                                          interactive=False, buttons=["download"], elem_id="reference-output")
                with gr.Tab("Style explorer"):
                    base = gr.Number(1, label="Start from gallery style (0: all zeros)", precision=0)
                    dims = [gr.Slider(-3, 3, value=0, step=0.1, label=f"style[{i}]") for i in range(EXPLORER_DIMS)]
                    explorer = gr.Image(label="Explored", format="png", type="pil", interactive=False,
                                        buttons=["download"], elem_id="explorer-output")

        random_inputs = [source, direction, n_styles, seed]
        random_outputs = [preview, gallery, styles, status]
        run.click(guarded(on_random, 3), random_inputs, random_outputs)

        def next_seed(value):
            return int(value or 0) + 1

        reroll.click(next_seed, seed, seed).then(guarded(on_random, 3), random_inputs, random_outputs)
        interp_inputs = [source, direction, styles, first, second, position]
        position.release(guarded(on_interpolate, 1), interp_inputs, [walked, status])
        first.submit(guarded(on_interpolate, 1), interp_inputs, [walked, status])
        second.submit(guarded(on_interpolate, 1), interp_inputs, [walked, status])
        apply_reference.click(guarded(on_reference, 1), [source, direction, reference], [referenced, status])
        for slider in dims:
            slider.release(guarded(on_explore, 1), [source, direction, styles, base, *dims], [explorer, status])
    return page


def serve(
    checkpoint_path: Annotated[Path | None, typer.Argument(
        help="Checkpoint or exported bundle, or a run folder (its latest checkpoint). Default: the newest run's latest checkpoint.", show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    image_size: ImageSizeOpt = None,
    checkpoint: CheckpointAliasOpt = None,
) -> None:
    """A local web page to translate your images, reroll and interpolate styles, borrow a reference's style.

    e.g. `munit serve runs/dog2cat/checkpoints/latest.safetensors`, then open the printed address.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: nothing leaves
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise MunitError("munit serve needs the serve extra: pip install 'munit-cli[serve]'") from None
    from ..serve import Translator
    from ._inference import default_image_size, load_model

    model, metadata, path = load_model(one_checkpoint(checkpoint_path, checkpoint), device, precision)
    size = default_image_size(metadata, image_size, model)
    a, b = model.domains
    title = f"MUNIT {a} ↔ {b} (step {metadata.get('step', '?')})"
    examples = held_out_examples(path, a)
    page = build_page(Translator(model, size), title, examples)
    local = host in ("127.0.0.1", "localhost", "::1")
    if not local:
        err_console.print(styled("warning:", "yellow") + f" listening on {host}: anyone on the network can "
                          "use this page")
    page.queue(default_concurrency_limit=1)  # one request at a time: tabs wait their turn
    examples_dirs = sorted({str(Path(e).parent) for e in examples})
    try:
        page.launch(server_name=host, server_port=port, quiet=True, ssr_mode=False, show_error=False,
                    allowed_paths=examples_dirs, footer_links=[], theme=_offline_theme(), prevent_thread_lock=True)
        console.print(f"serving {path} at http://{host}:{port}  (Ctrl-C stops)", highlight=False)  # once listening
        threading.Event().wait()  # the server runs on its own threads until Ctrl-C
    except KeyboardInterrupt:
        pass
    except OSError as e:  # the port is taken, or the address is not this machine's
        # Gradio's own advice (an environment variable, launch()'s parameter) is not for the command line
        reason = str(e)
        if "Cannot find empty port" in reason:
            reason = "the port is in use" + ("" if local else f", or {host} is not an address of this machine")
        raise MunitError(f"cannot listen on {host}:{port} ({reason}); choose another --port or --host") from None
    finally:
        page.close(verbose=False)
    console.print("stopped", highlight=False)


def _offline_theme():
    """Gradio's default look with the system's fonts: the default loads Google Fonts from the internet."""
    import gradio as gr

    system = ["ui-sans-serif", "system-ui", "sans-serif"]
    mono = ["ui-monospace", "monospace"]
    return gr.themes.Default(font=system, font_mono=mono)
