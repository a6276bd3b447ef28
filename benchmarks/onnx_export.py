"""Which decoder computation the ONNX graphs should hold: export time and onnxruntime speed of each.

    python benchmarks/onnx_export.py [--size 256] [--rounds 3]

Exports the default model's translation graph twice, with the released decoder computation (what
`munit export` writes) and with the CPU fast paths of `layers.py`, and times one style at SIZE x
SIZE in onnxruntime (best of ROUNDS after a warm-up). The first export also pays the exporter's
imports, so the released computation goes first and its time is given with and without them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from munit_cli import MUNIT, ModelConfig
from munit_cli.devices import set_paths
from munit_cli.export import StyleGraph, TranslateGraph, _export_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = MUNIT(ModelConfig(), ("a", "b"), discriminators=False).eval()
    graph = TranslateGraph(model.gen_a, model.gen_b).eval()
    example = (torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, model.config.style_dim))
    sizes = dict(multiple=4, min_size=model.config.min_generator_image_size())
    rng = np.random.default_rng(0)
    feed = {"image": rng.uniform(-1, 1, (1, 3, args.size, args.size)).astype(np.float32),
            "style": rng.standard_normal((1, model.config.style_dim)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()  # the exporter's imports, on a small graph
        _export_graph(StyleGraph(model.gen_b).eval(), example[:1], Path(tmp) / "warm.onnx", ["image"], "style", **sizes)
        print(f"first export (style graph, with the exporter's imports): {time.perf_counter() - start:.1f} s")
        print(f"{'decoder in the graph':28} {'export s':>9} {'onnxruntime ms':>15}")
        for name, fast in (("released (munit export)", False), ("CPU fast paths", True)):
            set_paths(model.gen_b, fast_convs=fast)
            path = Path(tmp) / f"{fast}.onnx"
            start = time.perf_counter()
            _export_graph(graph, example, path, ["image", "style"], "translated", **sizes)
            export_s = time.perf_counter() - start
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            session.run(None, feed)
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                session.run(None, feed)
                times.append(time.perf_counter() - start)
            print(f"{name:28} {export_s:9.1f} {min(times) * 1000:15.0f}")


if __name__ == "__main__":
    main()
