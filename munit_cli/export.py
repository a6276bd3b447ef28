"""Deployment exports: a generator-only safetensors bundle, and ONNX graphs checked with onnxruntime."""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import KIND_GENERATOR, atomic_save, build_metadata
from .devices import plain_paths
from .errors import ConfigError, MunitError
from .model import MUNIT
from .networks import Generator

ONNX_OPSET = 18


def export_bundle(model: MUNIT, path: str | Path, direction: str, half: bool = False, **metadata) -> Path:
    """Write both generators (no discriminators) as an inference bundle that ``load_checkpoint`` reads."""
    model.is_forward(direction)  # validate the direction before writing anything
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.to(dtype) for k, v in model.state_dict().items() if k.startswith(("gen_a.", "gen_b."))}
    bundle = MUNIT(model.config, model.domains, discriminators=False)
    meta = build_metadata(bundle, KIND_GENERATOR, default_direction=direction,
                          dtype="float16" if half else "float32", **metadata)
    return atomic_save(tensors, path, meta)


class TranslateGraph(nn.Module):
    """image [N, 3, H, W] in [-1, 1] + style [N, style_dim] -> translated [N, 3, H, W]."""

    def __init__(self, source: Generator, target: Generator):
        super().__init__()
        self.enc_content, self.dec, self.mlp = source.enc_content, target.dec, target.mlp

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc_content(image), self.mlp(style))


class StyleGraph(nn.Module):
    """image [N, 3, H, W] -> style [N, style_dim]."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.enc_style = generator.enc_style

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.enc_style(image)


@dataclass
class OnnxExport:
    translate_path: Path
    style_path: Path
    max_abs_diff_translate: float
    max_abs_diff_style: float
    exporter: str  # "dynamo", or "torchscript" where the installed torch's dynamo exporter failed


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX export needs the onnx extra: pip install 'munit-cli[onnx]'") from None
    return onnxruntime


def _export_graph(module: nn.Module, args: tuple, path: Path, input_names: list[str], output: str,
                  multiple: int, min_size: int) -> str:
    """Write ``module`` as ONNX with dynamic batch, height and width; return the exporter used.

    Height and width are declared as what the generators take (multiples of ``multiple``, at least
    ``min_size``): declared as any size, torch.export proves them wrong and the exporter retries
    twice (a third of the command's time). The dynamo exporter first; where the installed
    torch's fails (torch 2.4 has no ``dynamo`` argument, some versions fail on some graphs), the
    TorchScript exporter. Both are checked against PyTorch by ``export_onnx``.
    """
    dims = {"image": {0: "batch", 2: "height", 3: "width"}}
    if "style" in input_names:
        dims["style"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    common = dict(input_names=input_names, output_names=[output], opset_version=ONNX_OPSET)
    try:
        blocks = max(1, -(-min_size // multiple))  # ceil
        dim = {"batch": torch.export.Dim("batch", min=1),
               "height": multiple * torch.export.Dim("height_blocks", min=blocks),
               "width": multiple * torch.export.Dim("width_blocks", min=blocks)}
        shapes = {k: {axis: dim[name] for axis, name in axes.items()} for k, axes in dims.items()}
        _quietly(torch.onnx.export, module, args, str(path), dynamic_shapes=shapes, dynamo=True,
                 external_data=False, **common)
        return "dynamo"
    except Exception as dynamo_error:  # the exporter raises many internal types
        # torch before 2.5 has no ``dynamo`` argument: its plain export is the TorchScript exporter.
        legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        try:
            _quietly(torch.onnx.export, module, args, str(path), dynamic_axes=dims, **legacy, **common)
        except Exception as e:
            raise MunitError(f"ONNX export of {path.name} failed with both exporters: dynamo: "
                             f"{type(dynamo_error).__name__}: {dynamo_error}; TorchScript: {type(e).__name__}: {e}") from None
        return "torchscript"


def _quietly(function, *args, **kwargs):
    """Call ``function`` with its printing and warnings swallowed (the exporters narrate every stage)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def export_onnx(model: MUNIT, base: str | Path, direction: str, image_size: int = 64,
                seed: int = 0) -> OnnxExport:
    """Write ``<base>.translate.onnx`` and ``<base>.style.onnx``, then run both with onnxruntime on
    random inputs and report the largest absolute difference from PyTorch."""
    ort = _require_onnx()
    base = Path(base)
    source, target = model.generators_for(direction)
    model = model.float().eval()
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, model.config.input_channels, image_size, image_size, generator=g) * 2 - 1
    style = torch.randn(2, model.config.style_dim, generator=g)
    translate, style_net = TranslateGraph(source, target).eval(), StyleGraph(target).eval()
    paths = base.with_name(base.name + ".translate.onnx"), base.with_name(base.name + ".style.onnx")
    sizes = dict(multiple=2 ** model.config.n_downsample, min_size=model.config.min_generator_image_size())
    # The plain computation, whatever device the model was set up for: the norms written out and the
    # released decoder (upsample, then convolve). Standard operators for any ONNX consumer, exported
    # in half the time of the CPU fast paths and about 5% slower in onnxruntime
    # (benchmarks/onnx_export.py). The CUDA paths' fused norm views the batch as channels, which the
    # exporter would fix at the traced batch size.
    with plain_paths(model):
        exporters = {_export_graph(translate, (image, style), paths[0], ["image", "style"], "translated", **sizes),
                     _export_graph(style_net, (image,), paths[1], ["image"], "style", **sizes)}

    # Check both graphs at a size and batch other than the traced ones (dynamic axes really work).
    check_image = torch.rand(3, model.config.input_channels, image_size + 16, image_size + 32, generator=g) * 2 - 1
    check_style = torch.randn(3, model.config.style_dim, generator=g)
    with torch.no_grad():
        want_t, want_s = translate(check_image, check_style), style_net(check_image)
    try:
        session = ort.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])
        got_t = session.run(None, {"image": check_image.numpy(), "style": check_style.numpy()})[0]
        session = ort.InferenceSession(str(paths[1]), providers=["CPUExecutionProvider"])
        got_s = session.run(None, {"image": check_image.numpy()})[0]
    except Exception as e:  # onnxruntime's own error types
        raise MunitError(f"the exported graphs failed their check in onnxruntime (a batch of 3 at "
                         f"{image_size + 16}x{image_size + 32}): {e}".replace("\n", " ")) from None
    return OnnxExport(paths[0], paths[1], float((torch.from_numpy(got_t) - want_t).abs().max()),
                      float((torch.from_numpy(got_s) - want_s).abs().max()),
                      "torchscript" if "torchscript" in exporters else "dynamo")
