"""Milliseconds of each fast path in `munit_cli.layers` against the plain computation it replaces.

At the default model's sizes for one 256x256 image, without autograd, in float32 and bfloat16.
Each row also gives the largest difference between the two results (float rounding only). The
NNPACK rows (float32 only, ``munit_cli.nnpack``) compare against the same computation by oneDNN.

    python benchmarks/layers.py [--repeats 20] [--dtypes float32 bfloat16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from munit_cli import nnpack
from munit_cli.layers import (
    LayerNorm,
    conv_on_2x2_blocks,
    pixel_shuffle_2x,
    scale_shift,
    upsample_conv5x5,
)


def median_ms(fn: Callable[[], torch.Tensor], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cases(dtype: torch.dtype) -> list[tuple[str, Callable, Callable]]:
    """(name, plain, fast) for each fast path, on random inputs of the default model's sizes."""
    torch.manual_seed(0)
    up_64 = nn.Conv2d(256, 128, 5, 1, 2, padding_mode="reflect").to(dtype)
    up_128 = nn.Conv2d(128, 64, 5, 1, 2, padding_mode="reflect").to(dtype)
    last = nn.Conv2d(64, 3, 7, 1, 3, padding_mode="reflect").to(dtype)
    first = nn.Conv2d(3, 64, 7, 1, 3, padding_mode="reflect").to(dtype)
    x_rgb = torch.randn(1, 3, 256, 256, dtype=dtype)
    x_64, x_128 = torch.randn(1, 256, 64, 64, dtype=dtype), torch.randn(1, 128, 128, 128, dtype=dtype)
    x_256 = torch.randn(1, 64, 256, 256, dtype=dtype)
    norm = LayerNorm(64).to(dtype)
    scale, shift = torch.randn(1, 256), torch.randn(1, 256)
    phases = torch.randn(1, 256, 128, 128, dtype=dtype)

    def upsampled(conv, x):
        return lambda: conv(F.interpolate(x, scale_factor=2, mode="nearest"))

    def layer_norm_with_autograd():  # the two-pass statistics that training differentiates
        with torch.enable_grad():
            return norm(x_256.detach().requires_grad_()).detach()

    rows = [
        ("upsample+conv5x5 256->128 @64", upsampled(up_64, x_64), lambda: upsample_conv5x5(x_64, up_64)),
        ("upsample+conv5x5 128->64 @128", upsampled(up_128, x_128), lambda: upsample_conv5x5(x_128, up_128)),
        ("conv7x7 64->3 @256 on 2x2 blocks", lambda: last(x_256), lambda: conv_on_2x2_blocks(x_256, last)),
        ("LayerNorm 64x256x256, fused stats", layer_norm_with_autograd, lambda: norm(x_256)),
        ("scale+shift 256x64x64 vs addcmul",
         lambda: torch.addcmul(shift.to(dtype)[:, :, None, None], x_64, scale.to(dtype)[:, :, None, None]),
         lambda: scale_shift(x_64, scale, shift)),
        ("pixel shuffle 256x128x128", lambda: F.pixel_shuffle(phases, 2), lambda: pixel_shuffle_2x(phases)),
    ]
    if dtype == torch.float32 and nnpack.available():
        res = nn.Conv2d(256, 256, 3, 1, 1, padding_mode="reflect")
        x_64_8 = torch.randn(8, 256, 64, 64)
        rows += [
            ("conv3x3 256 @64, NNPACK", lambda: res(x_64), lambda: nnpack.conv2d_module(x_64, res)),
            ("  same, 8 images one by one", lambda: res(x_64_8), lambda: nnpack.conv2d_module(x_64_8, res)),
            ("  same, 8 images in NNPACK's batch", lambda: res(x_64_8),
             lambda: torch._nnpack_spatial_convolution(F.pad(x_64_8, (1,) * 4, mode="reflect"),
                                                       res.weight, res.bias, [0, 0])),
            ("upsample+conv5x5 256->128 @64, NNPACK", lambda: upsample_conv5x5(x_64, up_64),
             lambda: upsample_conv5x5(x_64, up_64, use_nnpack=True)),
            ("upsample+conv5x5 128->64 @128, NNPACK", lambda: upsample_conv5x5(x_128, up_128),
             lambda: upsample_conv5x5(x_128, up_128, use_nnpack=True)),
            ("conv7x7 64->3 on 2x2 blocks, NNPACK", lambda: conv_on_2x2_blocks(x_256, last),
             lambda: conv_on_2x2_blocks(x_256, last, use_nnpack=True)),
            ("conv7x7 3->64 @256 (RGB in), NNPACK", lambda: first(x_rgb), lambda: nnpack.conv2d_module(x_rgb, first)),
        ]
    return rows


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"],
                        help="bfloat16 is slow to time on a CPU without native bf16")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, cpu, {torch.get_num_threads()} threads, median of {args.repeats} calls")
    print(f"{'operation':36} {'dtype':9} {'plain ms':>9} {'fast ms':>8} {'speed-up':>9} {'max diff':>9}")
    for dtype in (getattr(torch, name) for name in args.dtypes):
        for name, plain, fast in cases(dtype):
            diff = (plain().float() - fast().float()).abs().max().item()
            slow_ms, fast_ms = median_ms(plain, args.repeats), median_ms(fast, args.repeats)
            print(f"{name:36} {str(dtype)[6:]:9} {slow_ms:9.2f} {fast_ms:8.2f} {slow_ms / fast_ms:8.2f}x {diff:9.2g}")


if __name__ == "__main__":
    main()
