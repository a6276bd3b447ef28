"""Would a Winograd convolution in bfloat16 make CPU translation cheaper? A probe, not a product path.

    python benchmarks/winograd_probe.py [--rounds 10]

The decoder's residual 3x3 convolutions (256 -> 256 channels at 64x64 for a 256x256 image) are half
of `munit translate`'s model time on a CPU, and oneDNN runs them in bf16 near the CPU's arithmetic
peak (results_translate_profile_cpu.txt), so only fewer multiplications could make them faster.
Winograd's F(4x4, 3x3) needs 36 multiplications per 4x4 output tile and input channel instead of
144; neither oneDNN (on a CPU without AMX) nor NNPACK offers it in bf16. Here it is written with
torch operations (tile view, transform by einsum, a batched matrix multiply, inverse transform) and
timed against F.conv2d on the same reflection-padded input, with each one's error against the
float64 convolution of the same (bf16-rounded) input and weights.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
import torch.nn.functional as F

# F(4x4, 3x3) with interpolation points 0, 1, -1, 2, -2 and infinity (Lavin and Gray, 2016).
B_T = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
A_T = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                   dtype=torch.float64)


def transformed_weight(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[out, in, 3, 3] -> [36, in, out], G w G^T per kernel (computed once per model, not timed)."""
    out_channels, in_channels = weight.shape[:2]
    u = torch.einsum("ay,oiyx,bx->abio", G, weight.double(), G)
    return u.reshape(36, in_channels, out_channels).to(dtype).contiguous()


def winograd_conv(padded: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The 'valid' 3x3 convolution of a padded [1, C, 4t + 2, 4t + 2] input, by F(4x4, 3x3)."""
    _, channels, height, width = padded.shape
    tiles = (height - 2) // 4
    # overlapping 6x6 input tiles at stride 4: [C, ty, tx, 6, 6], a view
    d = padded.as_strided((channels, tiles, tiles, 6, 6), (height * width, 4 * width, 4, width, 1))
    b_t, a_t = B_T.to(padded.dtype), A_T.to(padded.dtype)
    v = torch.einsum("ai,cyxij,bj->abyxc", b_t, d, b_t).reshape(36, tiles * tiles, channels)
    m = torch.bmm(v, u)  # [36, tiles, out]: the multiplications
    y = torch.einsum("ai,ijyxo,bj->oyaxb", a_t, m.view(6, 6, tiles, tiles, -1), a_t)
    return y.reshape(1, -1, 4 * tiles, 4 * tiles)


def best_ms(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    c = args.channels
    x = torch.randn(1, c, args.size, args.size)
    weight = torch.randn(c, c, 3, 3) / (3 * c**0.5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}; a {c} -> {c} 3x3 convolution at {args.size}x{args.size}, "
          f"reflection padding, batch 1; best of {args.rounds}")
    print(f"{'dtype':9} {'path':22} {'ms':>7} {'error':>9}   (mean |y - exact| / mean |exact|)")
    for dtype in (torch.float32, torch.bfloat16):
        padded = F.pad(x.to(dtype), (1, 1, 1, 1), mode="reflect")
        w = weight.to(dtype)
        exact = F.conv2d(padded.double(), w.double())
        u = transformed_weight(w, dtype)
        for name, fn in (("F.conv2d (oneDNN)", partial(F.conv2d, padded, w)),
                         ("Winograd F(4x4, 3x3)", partial(winograd_conv, padded, u))):
            error = (fn().double() - exact).abs().mean() / exact.abs().mean()
            print(f"{str(dtype).split('.')[1]:9} {name:22} {best_ms(fn, args.rounds):7.2f} {error.item():9.2e}")


if __name__ == "__main__":
    main()
