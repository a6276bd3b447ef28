"""GPU kernels per training iteration, read from the PyTorch profiler: count, time, layout conversions.

    python benchmarks/kernel_table.py --device cuda --variants ours-bf16 ours-bf16-channels-last --batch 8

For each variant (as in train_step.py) it runs a few warm steps, then profiles ``--steps`` steps and
prints, per step: GPU kernels launched, their summed GPU time, the wall time, the kernels that only
convert memory layout (cuDNN's NCHW<->NHWC transposes, named ``nchwToNhwc``/``nhwcToNchw`` and the like)
and the host syncs inside the steps (``cudaStreamSynchronize``, ``cudaDeviceSynchronize``, blocking
``cudaMemcpy``);
then the top kernels by GPU time. On a CPU the same script lists CPU operators instead (a dry run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from munit_cli.devices import select_device

sys.path.insert(0, str(Path(__file__).parent))
from gpu_profile import profile_steps  # noqa: E402
from train_step import VARIANTS, build_step  # noqa: E402


def profile_variant(variant: str, size: int, batch: int, device: str, steps: int, warmup: int, top: int) -> None:
    trainer, step = build_step(variant, size, batch, device)
    cuda = trainer.device.type == "cuda"
    for _ in range(warmup):
        step()
    prof = profile_steps(step, cuda, steps)
    s = prof.summary()
    what = "GPU kernels" if cuda else "top-level CPU operators"
    print(f"\n{variant}, {size}x{size}, batch {batch}, {trainer.device}: per step {s['kernels_per_step']:.0f} {what}, "
          f"{s['busy_ms']:.2f} ms busy of {s['wall_ms']:.2f} ms wall; {s['layout_kernels']:.0f} layout "
          f"conversions ({s['layout_ms']:.2f} ms); {s['syncs']:.1f} host syncs; "
          f"{s['graph_launches']:.1f} CUDA graph launches")
    print(f"  {'calls':>6} {'ms/step':>8} {'share':>6}  kernel (name cut at 240 characters)")
    for name, times in sorted(prof.kernels.items(), key=lambda kv: -sum(kv[1]))[:top]:
        print(f"  {len(times) / steps:6.0f} {sum(times) / steps / 1000:8.3f} "
              f"{sum(times) / max(prof.busy_us, 1e-9):6.1%}  {name[:240]}")
    for name, times in prof.layout().items():
        print(f"  layout conversion: {name[:240]} x{len(times) / steps:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["ours-bf16", "ours-bf16-channels-last"],
                        choices=list(VARIANTS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    args.device = str(select_device(args.device))
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    for variant in args.variants:
        profile_variant(variant, args.size, args.batch, args.device, args.steps, args.warmup, args.top)


if __name__ == "__main__":
    main()
