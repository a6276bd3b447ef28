"""Seconds per training iteration: the released recipe vs. munit-cli's training step.

The released recipe, written with our modules: discriminator step then generator step, each
encoding and decoding anew, one call per image batch, float32, eager, the discriminators not frozen
during the generator step, each decoder upsampling then convolving at full size (its norms are
ours, on each device's path: on CUDA ATen's fused norms, which flatters the released row there).
Ours: the Trainer's step (generator step first, its translations reused detached by the
discriminator step, discriminators frozen during the generator step, reconstruction and
translation decoded in one batch per decoder, fakes and reals scored in one batch, upsampling
convolutions computed at the low resolution on a CPU, fused Adam), in fp32, bf16, with
channels_last, and compiled (on CUDA with CUDA graphs: ``munit train``'s default there).

Each (variant, size, batch) runs in a fresh subprocess so peak memory (max RSS on the CPU,
max_memory_allocated on CUDA) belongs to that variant alone.

    python benchmarks/train_step.py --device cpu         # CPU, 128 and 256, default model
    python benchmarks/train_step.py --device cuda --sizes 256 --batches 1 8 --iters 20 \
        --variants released-fp32 ours-fp32 ours-bf16 ours-bf16-channels-last ours-bf16-compile
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from munit_cli.config import RELEASED, LossWeights, ModelConfig, TrainConfig
from munit_cli.devices import select_device, set_paths
from munit_cli.losses import adversarial_discriminator_loss, adversarial_generator_loss, l1
from munit_cli.train import Trainer

VARIANTS = {  # compile is off unless named: the Trainer would otherwise compile on CUDA by default
    "released-fp32": dict(precision="fp32", compile=False),
    "ours-fp32": dict(precision="fp32", compile=False),
    "ours-fp32-channels-last": dict(precision="fp32", channels_last=True, compile=False),
    "ours-bf16": dict(precision="bf16", compile=False),
    "ours-bf16-channels-last": dict(precision="bf16", channels_last=True, compile=False),
    "ours-bf16-compile": dict(precision="bf16", compile=True),
    "ours-bf16-channels-last-compile": dict(precision="bf16", channels_last=True, compile=True),
    # The decoder's low-resolution upsampling convolutions (the CPU path; fewer multiply-adds, more
    # operators), compiled: in CUDA graphs the extra launches cost nothing.
    "ours-bf16-compile-fast-convs": dict(precision="bf16", compile=True),
    # Inductor's own channels_last choice forced on. Its heuristic declines it for this model's
    # training graph (three decoder convolutions halve the channels: 256->128, 128->64, 64->3), so
    # the compiled step hands cuDNN NCHW tensors and cuDNN converts them (914 conversion kernels,
    # 17.9 ms of the compiled batch-8 step's 102 ms on an H200). CPU check: benchmarks/layout_decision.py.
    "ours-bf16-compile-layout-opt": dict(precision="bf16", compile=True),
    # TrainConfig() as `munit train` uses it: the rows above share the released loss weights (no
    # explicit cycle loss) to compare the step's implementation; this one adds the default recipe's
    # cycle loss (two more decodes a step), EMA and precision auto.
    "default-recipe": dict(compile=False),
}
DEFAULT_VARIANTS = ["released-fp32", "ours-fp32", "ours-bf16", "ours-bf16-channels-last"]


def released_iteration(trainer: Trainer, x_a: torch.Tensor, x_b: torch.Tensor) -> None:
    """One iteration as the released trainer does it: dis_update, then gen_update, call by call."""
    model, w = trainer.model, trainer.config.loss
    gen_a, gen_b, dis_a, dis_b = model.gen_a, model.gen_b, model.dis_a, model.dis_b
    style_dim = model.config.style_dim

    def randn():
        return torch.randn(x_a.shape[0], style_dim, device=x_a.device)

    # dis_update: translate with fresh styles (graph kept, as released), score fakes and reals.
    s_a, s_b = randn(), randn()
    c_a, _ = gen_a.encode(x_a)
    c_b, _ = gen_b.encode(x_b)
    x_ba, x_ab = gen_a.decode(c_b, s_a), gen_b.decode(c_a, s_b)
    loss_dis = w.gan_w * (adversarial_discriminator_loss(dis_a(x_ba.detach()), dis_a(x_a), "lsgan")
                          + adversarial_discriminator_loss(dis_b(x_ab.detach()), dis_b(x_b), "lsgan"))
    trainer.opt_dis.zero_grad()
    loss_dis.backward()
    trainer.opt_dis.step()

    # gen_update: new styles, encode, decode within and across, encode again; D is not frozen.
    s_a, s_b = randn(), randn()
    c_a, s_a_prime = gen_a.encode(x_a)
    c_b, s_b_prime = gen_b.encode(x_b)
    x_a_recon, x_b_recon = gen_a.decode(c_a, s_a_prime), gen_b.decode(c_b, s_b_prime)
    x_ba, x_ab = gen_a.decode(c_b, s_a), gen_b.decode(c_a, s_b)
    c_b_recon, s_a_recon = gen_a.encode(x_ba)
    c_a_recon, s_b_recon = gen_b.encode(x_ab)
    loss_gen = (w.gan_w * (adversarial_generator_loss(dis_a(x_ba), "lsgan")
                           + adversarial_generator_loss(dis_b(x_ab), "lsgan"))
                + w.recon_x_w * (l1(x_a_recon, x_a) + l1(x_b_recon, x_b))
                + w.recon_s_w * (l1(s_a_recon, s_a) + l1(s_b_recon, s_b))
                + w.recon_c_w * (l1(c_a_recon, c_a) + l1(c_b_recon, c_b)))
    trainer.opt_gen.zero_grad()
    loss_gen.backward()
    trainer.opt_gen.step()


def build_step(variant: str, size: int, batch: int, device: str) -> tuple[Trainer, Callable[[], None]]:
    """A Trainer set up as ``variant`` and a function running one iteration on fixed random batches."""
    torch.manual_seed(0)
    loss = LossWeights() if variant == "default-recipe" else RELEASED.loss
    # The released model (no spectral norm) keeps the rows comparable with earlier ones; the default
    # recipe's row has the default model.
    model = ModelConfig() if variant == "default-recipe" else RELEASED.model
    config = TrainConfig(model=model, loss=loss, image_size=size, batch_size=batch, **VARIANTS[variant])
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device=device)
    if variant.startswith("released") or variant.endswith("fast-convs"):
        # released: upsample, then a 5x5 conv at full size; fast-convs: the convs at the low resolution
        set_paths(trainer.model, fast_convs=variant.endswith("fast-convs"))
    if variant.endswith("layout-opt"):  # this process compiles only this variant
        import torch._inductor.config as inductor_config
        inductor_config.force_layout_optimization = True
    x_a, x_b = (torch.rand(batch, 3, size, size, device=trainer.device) * 2 - 1 for _ in range(2))
    if config.channels_last:
        x_a, x_b = (x.contiguous(memory_format=torch.channels_last) for x in (x_a, x_b))
    if variant.startswith("released"):
        return trainer, lambda: released_iteration(trainer, x_a, x_b)
    return trainer, lambda: trainer.train_step(x_a, x_b)


def measure(variant: str, size: int, batch: int, device: str, iters: int, warmup: int) -> dict:
    trainer, step = build_step(variant, size, batch, device)
    dev = trainer.device

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    started = time.perf_counter()
    step()  # the first step: cuDNN's algorithm search, and for compiled variants the compilation
    sync()
    first = time.perf_counter() - started
    for _ in range(warmup - 1):
        step()
    sync()
    flops = 0.0  # not counted for compiled steps: a dispatch mode around them would retrace the graphs
    if not trainer.compiled.enabled:
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    seconds = (time.perf_counter() - start) / iters
    # On CUDA, tensors allocated at the peak; and memory held from the device at the peak, which for
    # compiled steps includes the CUDA graphs' pools (recorded before the timing, so not in the first).
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    reserved = torch.cuda.max_memory_reserved() if dev.type == "cuda" else peak
    result = {"variant": variant, "size": size, "batch": batch, "device": str(dev), "s_per_it": seconds,
              "first_step_s": first, "gflop_per_it": flops / 1e9, "gflop_s": flops / 1e9 / seconds,
              "peak_mib": peak / 2**20, "reserved_mib": reserved / 2**20}
    if dev.type == "cuda":  # launches per step, as the profiler sees them (after the timing)
        from gpu_profile import profile_steps
        result["profile"] = profile_steps(step, cuda=True, steps=2).summary()
    if trainer.compiled.enabled:
        from torch._dynamo.utils import counters
        result["dynamo"] = {group: dict(values) for group, values in counters.items()
                            if group in ("stats", "graph_break", "inductor") and values}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("VARIANT", "SIZE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.device = str(select_device(args.device))
    if args.one:  # child process: one measurement, printed as JSON
        variant, size, batch = args.one
        print(json.dumps(measure(variant, int(size), int(batch), args.device, args.iters, args.warmup)))
        return

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, device {args.device} ({name}), default model (gen 15.0M, dis 8.3M "
          f"params), {args.iters} timed iterations after {args.warmup} warm-up (the first step timed apart)")
    print(f"{'variant':26} {'size':>5} {'batch':>5} {'s/it':>8} {'GFLOP/it':>9} {'GFLOP/s':>8} {'peak MiB':>9} "
          f"{'speed-up':>9} {'first s':>8} {'held MiB':>9}")
    for size in args.sizes:
        for batch in args.batches:
            baseline = None
            for variant in args.variants:
                cmd = [sys.executable, __file__, "--one", variant, str(size), str(batch), "--device", args.device,
                       "--iters", str(args.iters), "--warmup", str(args.warmup)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:  # report and go on: one failing variant must not hide the others
                    print(f"{variant:26} {size:5d} {batch:5d} failed:\n{proc.stderr[-3000:]}", flush=True)
                    continue
                r = json.loads(proc.stdout.splitlines()[-1])
                baseline = baseline or r["s_per_it"]
                print(f"{variant:26} {size:5d} {batch:5d} {r['s_per_it']:8.4f} {r['gflop_per_it']:9.1f} "
                      f"{r['gflop_s']:8.1f} {r['peak_mib']:9.0f} {baseline / r['s_per_it']:8.2f}x "
                      f"{r['first_step_s']:8.1f} {r['reserved_mib']:9.0f}", flush=True)
                if "profile" in r:
                    print("    profiler, per step: " + ", ".join(f"{k} {v:.1f}" for k, v in r["profile"].items()),
                          flush=True)
                if "dynamo" in r:
                    print(f"    torch.compile counters: {json.dumps(r['dynamo'])}", flush=True)


if __name__ == "__main__":
    main()
