"""Inference on tensors: sample or encode styles, translate into many styles at once, interpolate.

Tensors in, tensors out; no files. Images are [N, 3, H, W] in [-1, 1]; styles are [K, style_dim].
Both may be float32 whatever the generators' dtype (``precision.cast_for_inference``): they are
cast to it, and results come back in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import ConfigError
from .networks import Generator
from .precision import model_dtype


def sample_styles(n: int, style_dim: int, seed: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` random styles from the prior N(0, I), reproducible for a given seed."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(n, style_dim, generator=generator).to(device)


@torch.no_grad()
def encode_style(generator: Generator, images: torch.Tensor) -> torch.Tensor:
    """Style codes of (target-domain) reference images: [N, style_dim]."""
    return generator.encode_style(images.to(model_dtype(generator))).float()


def default_chunk(device: torch.device, styles: int) -> int:
    """Styles per decoder call.

    On a GPU one batch of all the styles keeps the device busy. On a CPU, big batches of 256x256
    activations fall out of cache: 8 styles of one 256x256 image took 1.56 s one style per call and
    1.78 s all in one call (2 cores, bf16, benchmarks/translate.py), so one by one there.
    """
    return styles if device.type != "cpu" else 1


@torch.no_grad()
def translate(source: Generator, target: Generator, images: torch.Tensor, styles: torch.Tensor,
              chunk: int | None = None) -> torch.Tensor:
    """Every image in every style: [N, K, 3, H, W]. Each image is encoded once (see ``decode_styles``)."""
    return decode_styles(target, source.enc_content(images.to(model_dtype(source))), styles, chunk)


@torch.no_grad()
def decode_styles(target: Generator, content: torch.Tensor, styles: torch.Tensor,
                  chunk: int | None = None) -> torch.Tensor:
    """Decode every content code [N, C, h, w] with every style [K, style_dim]: [N, K, 3, H, W].

    Per content code, the decoder's first convolution (which sees the content alone) runs once,
    then the decoder runs on batches of ``chunk`` styles (default: ``default_chunk``); the style
    MLP runs once per batch of styles.
    """
    if styles.dim() != 2:
        styles = styles.flatten(1)
    if styles.shape[1] != target.mlp.model[0].fc.in_features:
        raise ConfigError(f"style codes have {styles.shape[1]} numbers but this model's style_dim is "
                          f"{target.mlp.model[0].fc.in_features}")
    k = styles.shape[0]
    chunk = chunk or default_chunk(content.device, k)
    # The style MLP on the decoder's chunks: a matrix multiply rounds differently for different
    # batch sizes, so with one style per chunk (the CPU's) a style gives the same pixels whatever
    # other styles share the call (an interpolation's end and the gallery style it ends on).
    adain = [target.mlp(part) for part in styles.to(model_dtype(target)).split(chunk)]
    decoded = []
    for one in content.split(1):
        first_conv = target.dec.content_conv(one)
        decoded += [target.dec(one, params, first_conv) for params in adain]
    out = torch.cat(decoded).float()
    return out.view(content.shape[0], k, *out.shape[1:])


class ReplayedTranslate:
    """``translate`` with fixed generators and styles, replayed as a CUDA graph per input shape.

    A decoder call launches a few hundred small kernels; on a GPU at a few images per call the time
    goes to launching them, not to arithmetic. The first call of a shape runs eagerly (a shape seen
    once would not pay back a capture); the second warms up on a side stream, as capture requires,
    and records the call as a CUDA graph; from then on each call copies its images into the graph's
    input and replays it, one launch. Off CUDA it is plain ``translate``.

    A capture or replay that fails (a driver or allocator that will not capture) turns the graphs
    off for good: the call is answered eagerly, and ``on_failure`` hears of the error once.
    """

    def __init__(self, source: Generator, target: Generator, styles: torch.Tensor,
                 on_failure: Callable[[BaseException], None] | None = None):
        self.source, self.target, self.styles = source, target, styles
        self.on_failure = on_failure
        self.failure: BaseException | None = None
        self._seen: set[tuple[int, ...]] = set()
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _eager(self, images: torch.Tensor) -> torch.Tensor:
        return translate(self.source, self.target, images, self.styles)

    def _replays(self, images: torch.Tensor) -> bool:
        return images.device.type == "cuda" and self.failure is None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        shape = tuple(images.shape)
        if not self._replays(images) or shape not in self._seen:
            self._seen.add(shape)
            return self._eager(images)
        try:
            return self._replay(images)
        except Exception as error:  # noqa: BLE001 - the graph is optional speed; the eager call is the answer
            self.failure, self._graphs = error, {}
            if self.on_failure is not None:
                self.on_failure(error)
            return self._eager(images)

    def _replay(self, images: torch.Tensor) -> torch.Tensor:
        shape = tuple(images.shape)
        if shape not in self._graphs:
            self._graphs[shape] = self._capture(images.clone())
        graph, static_in, static_out = self._graphs[shape]
        static_in.copy_(images)
        graph.replay()
        return static_out.clone()  # the next replay overwrites static_out

    def _capture(self, static_in: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._eager(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._eager(static_in)
        return graph, static_in, static_out


def interpolate_styles(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` styles on the straight line from ``start`` to ``end`` (both included)."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 to include both ends; got {steps}")
    t = torch.linspace(0, 1, steps, device=start.device).view(-1, 1)
    return torch.lerp(start.view(1, -1), end.view(1, -1), t)
