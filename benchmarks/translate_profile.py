"""Where `munit translate`'s model time goes on a CPU: one 256x256 image into 8 styles, per operator.

    python benchmarks/translate_profile.py [--precisions bf16 fp32]

The default model (random weights: the arithmetic is a trained model's) on the CPU paths
``munit translate`` uses (``devices.choose_paths``: at fp32 that includes NNPACK's Winograd
convolutions), under torch.profiler after one warm-up call. Prints the operators that took the
most time, with each 3x3 convolution's arithmetic rate (GFLOP/s: two per multiply-add of the direct
convolution, from the shapes; NNPACK's Winograd transform does fewer, so its rate is the direct
equivalent), which says how far the convolutions are from the CPU's peak.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from munit_cli.config import ModelConfig
from munit_cli.devices import choose_paths
from munit_cli.inference import sample_styles, translate
from munit_cli.model import MUNIT

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
CONVOLUTIONS = ("aten::mkldnn_convolution", "aten::_nnpack_spatial_convolution")


def conv3x3_gflop(shapes: list) -> float | None:
    """Multiply-adds x 2 of a 3x3 convolution (stride 1 in this model: the residual blocks' and the
    upsampling's phases) from its (padded) input and weight shapes; None for other kernels."""
    (n, _, h, w), (c_out, c_in, k_h, k_w) = shapes[0], shapes[1]
    if (k_h, k_w) != (3, 3):
        return None
    return 2 * n * c_out * c_in * 9 * (h - 2) * (w - 2) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", nargs="+", choices=list(DTYPES), default=["bf16", "fp32"])
    parser.add_argument("--rows", type=int, default=8)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; default model, one 256x256 image "
          f"into 8 styles, CPU paths (choose_paths)")
    for name in args.precisions:
        torch.manual_seed(0)
        model = choose_paths(MUNIT(ModelConfig(), ("a", "b"), discriminators=False).eval().to(DTYPES[name]), "cpu")
        image, styles = torch.rand(1, 3, 256, 256) * 2 - 1, sample_styles(8, model.config.style_dim, seed=0)
        translate(model.gen_a, model.gen_b, image, styles)  # warm-up: oneDNN's kernels, NNPACK's set-up
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            translate(model.gen_a, model.gen_b, image, styles)
        events = prof.key_averages(group_by_input_shape=True)
        total_ms = sum(e.self_cpu_time_total for e in events) / 1e3
        print(f"\n{name}: {total_ms:.0f} ms of operator self time")
        print(f"{'operator':36}{'input, weight':>32}{'calls':>6}{'ms each':>9}{'share':>7}{'GFLOP/s':>9}")
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.rows]:
            ms_each = e.self_cpu_time_total / 1e3 / e.count
            shapes = e.input_shapes
            described, rate = "", ""
            if len(shapes) > 1 and len(shapes[0]) == 4 and len(shapes[1]) == 4:
                described = "x".join(map(str, shapes[0][1:])) + ", " + "x".join(map(str, shapes[1]))
                gflop = conv3x3_gflop(shapes) if e.key in CONVOLUTIONS else None
                rate = f"{gflop / ms_each * 1e3:.0f}" if gflop else ""
            print(f"{e.key[:36]:36}{described:>32}{e.count:6}{ms_each:9.2f}"
                  f"{e.self_cpu_time_total / 1e3 / total_ms:7.1%}{rate:>9}")


if __name__ == "__main__":
    main()
