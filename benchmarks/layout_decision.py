"""Why the compiled CUDA step keeps NCHW: inductor's channels_last heuristic, applied on a CPU.

Inductor decides per graph whether to lay tensors out channels_last (`GraphLowering.
decide_layout_opt`). On a CPU with oneDNN it always does; on a GPU it declines a training graph in
which a convolution with a kernel larger than 1x1 has at most half as many outputs as inputs. This
script traces the generator and discriminator forward of the default model on the CUDA layer paths
(`devices.choose_paths(model, "cuda")`), lists those convolutions, and asks the heuristic with
oneDNN switched off, i.e. with the GPU's rules. Every graph of the training step holds the decoder,
so every graph gets the same answer.

    python benchmarks/layout_decision.py
"""

from __future__ import annotations

import warnings

import torch
from torch._inductor.graph import GraphLowering
from torch.fx.experimental.proxy_tensor import make_fx

from munit_cli import MUNIT, ModelConfig
from munit_cli.devices import choose_paths


def main() -> None:
    model = choose_paths(MUNIT(ModelConfig()), "cuda")

    def translate_and_score(x: torch.Tensor) -> torch.Tensor:
        content, style = model.gen_a.encode(x)
        return model.dis_b(model.gen_b.decode(content, style))[0].mean()

    graph = make_fx(translate_and_score)(torch.rand(1, 3, 64, 64))
    convolutions = [n for n in graph.graph.nodes if n.target is torch.ops.aten.convolution.default]
    weights = [n.args[1].meta["val"].shape for n in convolutions]
    halving = [tuple(w) for w in weights if w[0] * 2 <= w[1] and w[2] > 1]
    print(f"torch {torch.__version__}; default model on the CUDA layer paths, generator + discriminator forward")
    print(f"{len(convolutions)} convolutions; outputs <= inputs / 2 with a kernel > 1 (weight shapes): {halving}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # switching oneDNN off warns about Intel GPUs' TF32
        with torch.backends.mkldnn.flags(enabled=False):
            verdict = GraphLowering.decide_layout_opt(graph, is_inference=False)
    print(f"inductor's channels_last layout for this training graph (GPU rules): {verdict}")


if __name__ == "__main__":
    main()
