"""`munit export`: a generator-only bundle or ONNX graphs for deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._console import console
from ._options import CheckpointOpt, DeviceOpt, DirectionOpt

FORMATS = ("safetensors", "onnx")
ONNX_TOLERANCE = 1e-4


def export(
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors (inference bundle) or onnx.")] = "safetensors",
    output: Annotated[Path | None, typer.Option("--out", "--output", "-o", help=
                      "Output file (safetensors) or name prefix (onnx). Default: exports/<A>2<B>.")] = None,
    direction: DirectionOpt = None,
    half: Annotated[bool, typer.Option("--half", help="Store float16 weights (safetensors only).")] = False,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Export the generators: a small safetensors bundle `translate` and `style-sample` accept, or ONNX
    graphs (translation: image + style -> translated; style encoding: image -> style) checked with
    onnxruntime."""
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    if half and format != "safetensors":
        raise ConfigError("--half applies to --format safetensors only")
    import torch  # heavy imports here, not at the top: `munit --help` must not load torch

    from ..export import export_bundle, export_onnx
    from ._inference import load_model

    model, metadata, checkpoint = load_model(checkpoint, device)
    direction = direction or metadata.get("default_direction", "A2B")
    source_name, target_name = model.domains_for(direction)
    base = output or Path("exports") / f"{source_name}2{target_name}"
    if format == "safetensors":
        path = base if base.suffix == ".safetensors" else base.with_name(base.name + ".safetensors")
        extra = {k: metadata[k] for k in ("image_size", "step") if k in metadata}
        export_bundle(model.cpu(), path, direction, half=half, source=str(checkpoint), **extra)
        size = path.stat().st_size / 2**20
        console.print(f"wrote {path} ({size:.2f} MiB, {'float16' if half else 'float32'}, {direction}, "
                      f"{'EMA' if metadata.get('has_ema') == 'true' else 'live'} weights)")
        return
    base = base.with_suffix("") if base.suffix == ".onnx" else base
    # Tracing both graphs and checking them takes tens of seconds: say what is happening meanwhile.
    with console.status(f"exporting {base}.translate.onnx and {base}.style.onnx, then checking them in onnxruntime"):
        result = export_onnx(model.cpu(), base, direction)
    if result.exporter == "torchscript":
        console.print(f"note: the dynamo ONNX exporter of torch {torch.__version__} failed on this model; "
                      "used the TorchScript exporter (checked below like the other)", highlight=False)
    console.print(f"wrote {result.translate_path} (image, style -> translated) and {result.style_path} (image -> style)")
    console.print(f"onnxruntime vs PyTorch, largest difference: translate {result.max_abs_diff_translate:.2e}, "
                  f"style {result.max_abs_diff_style:.2e}")
    worst = max(result.max_abs_diff_translate, result.max_abs_diff_style)
    if worst >= ONNX_TOLERANCE:
        raise ConfigError(f"ONNX outputs differ from PyTorch by {worst:.2e} (more than {ONNX_TOLERANCE:g}); "
                          "the exported graphs are not trustworthy")
