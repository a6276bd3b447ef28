"""Time to translate one 256x256 image into 8 styles with the default model.

The released test recipe, written with our modules: encode once, then decode one style at a
time, float32, eager, each decoder upsampling then convolving at full size, every convolution
through F.conv2d. Ours, as `munit translate` runs it: `munit_cli.inference.translate` (the
decoder's content-only convolution once per image, upsampling convolutions at the low resolution,
the last one on 2x2 pixel blocks; on a CPU in float32, NNPACK's convolutions), with the weights
cast once to the precision (`--precision auto`, the default: bf16 where the hardware computes it
natively, else float32) and in float32; on a CPU also without NNPACK; and the exported ONNX graph
run by ONNX Runtime (when the onnx extra is installed).

    python benchmarks/translate.py --compile
    python benchmarks/translate.py --device cuda --rounds 20
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from munit_cli import MUNIT, ModelConfig
from munit_cli.devices import choose_paths, select_device, set_paths
from munit_cli.inference import ReplayedTranslate, sample_styles, translate
from munit_cli.precision import cast_for_inference, resolve_precision


def interleaved(paths: dict[str, Callable[[], object]], rounds: int, warmup: int, sync) -> dict[str, list[float]]:
    """Seconds per call of each path, timed in turns (one call of each per round).

    Turns spread slow spells of a shared machine over every path alike; the medians then compare
    paths measured under the same conditions.
    """
    for fn in paths.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, fn in paths.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name and its vector extensions that matter here."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model or 'unknown CPU'}, {' '.join(extensions) or 'no AVX2'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n-styles", type=int, default=8)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile'd decoder")
    args = parser.parse_args()

    device = select_device(args.device)
    torch.manual_seed(0)
    model = choose_paths(MUNIT(ModelConfig(), discriminators=False).to(device).eval(), device.type)
    x = torch.rand(1, 3, args.size, args.size, device=device) * 2 - 1
    styles = sample_styles(args.n_styles, model.config.style_dim, seed=0, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # The released computation: each decoder upsampling, then convolving at full size, and every
    # convolution through F.conv2d (oneDNN on a CPU, never NNPACK).
    plain = set_paths(copy.deepcopy(model), fast_convs=False, nnpack=False)

    @torch.no_grad()
    def released():
        content, _ = plain.gen_a.encode(x)  # test.py encodes content and (unused) style
        return [plain.gen_b.decode(content, styles[k:k + 1]) for k in range(len(styles))]

    def cast_copy(precision: str) -> MUNIT:
        """A copy of the model with its weights cast to ``precision``, for a path to change as it needs."""
        return cast_for_inference(copy.deepcopy(model), precision)

    casts = {}  # precision -> the shared cast copy of the default paths

    def ours_model(precision: str) -> MUNIT:
        if precision not in casts:
            casts[precision] = cast_copy(precision)
        return casts[precision]

    def ours(precision: str, chunk: int | None = None):
        cast = ours_model(precision)
        return lambda: translate(cast.gen_a, cast.gen_b, x, styles, chunk=chunk)

    auto = resolve_precision("auto", device)
    paths = {"released (loop, fp32)": released,
             f"ours, default (auto = {auto})": ours("auto"),
             "ours, --precision fp32": ours("fp32"),
             f"ours, {auto}, {len(styles)} styles in 1 batch": ours("auto", len(styles))}
    if device.type == "cuda":  # what `munit translate` runs on CUDA: one graph replay per batch shape
        replayed = {p: ReplayedTranslate(ours_model(p).gen_a, ours_model(p).gen_b, styles) for p in (auto, "fp32")}
        paths[f"ours, {auto}, CUDA graph"] = lambda: replayed[auto](x)
        paths["ours, fp32, CUDA graph"] = lambda: replayed["fp32"](x)
        # The CPU's decoder path (fewer multiply-adds, more launches): in a graph, launches are free.
        fast = set_paths(cast_copy(auto), fast_convs=True)
        fast_replayed = ReplayedTranslate(fast.gen_a, fast.gen_b, styles)
        paths[f"ours, {auto}, CUDA graph, fast convs"] = lambda: fast_replayed(x)
        # Weights and image NHWC: cuDNN's layout, which the CUDA-path norms now keep.
        nhwc = cast_copy(auto).to(memory_format=torch.channels_last)
        nhwc_replayed = ReplayedTranslate(nhwc.gen_a, nhwc.gen_b, styles)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        paths[f"ours, {auto}, CUDA graph, channels_last"] = lambda: nhwc_replayed(x_nhwc)
    if device.type == "cpu":  # ours without NNPACK (oneDNN's convolutions), to show what it brings
        onednn = set_paths(cast_copy(auto), nnpack=False)
        paths[f"ours, {auto}, NNPACK off"] = lambda: translate(onednn.gen_a, onednn.gen_b, x, styles)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_onnx and device.type == "cpu":
            try:
                import onnxruntime as ort

                from munit_cli.export import export_onnx
            except ImportError:
                print("(onnxruntime not installed: skipping the ONNX Runtime rows)")
            else:
                exported = export_onnx(model, Path(tmp) / "m", "A2B")
                session = ort.InferenceSession(str(exported.translate_path), providers=["CPUExecutionProvider"])
                feed = {"image": x.repeat(len(styles), 1, 1, 1).numpy(), "style": styles.numpy()}
                feeds = [{"image": x.numpy(), "style": styles[k:k + 1].numpy()} for k in range(len(styles))]
                paths["onnxruntime (one batch, fp32)"] = lambda: session.run(None, feed)
                paths["onnxruntime (per style, fp32)"] = lambda: [session.run(None, f) for f in feeds]
        if args.compile:  # torch.compile the decoder; the first call compiles (timed separately)
            compiled = cast_copy("auto")
            compiled.gen_b.dec = torch.compile(compiled.gen_b.dec)
            start = time.perf_counter()
            translate(compiled.gen_a, compiled.gen_b, x, styles)
            print(f"torch.compile of the decoder took {time.perf_counter() - start:.1f} s")
            paths[f"ours, {auto}, compiled"] = lambda: translate(compiled.gen_a, compiled.gen_b, x, styles)
        print(f"torch {torch.__version__}, device {device} ({device_name(device)}), {torch.get_num_threads()} "
              f"threads, default model, one {args.size}x{args.size} image into {args.n_styles} styles; "
              f"{args.rounds} rounds of one call per path in turn, after {args.warmup} warm-up call(s) each")
        times = interleaved(paths, args.rounds, args.warmup, sync)
    if auto != "fp32":  # what the faster default costs in output pixels (levels of 255)
        def levels(x: torch.Tensor) -> torch.Tensor:
            return ((x.float().clamp(-1, 1) + 1) * 127.5).round()
        diff = (levels(ours(auto)()) - levels(ours("fp32")())).abs()
        print(f"{auto} against fp32 output: mean |difference| {diff.mean():.2f} levels of 255, "
              f"99th percentile {diff.flatten().quantile(0.99):.0f}, max {diff.max():.0f}")
    baseline = statistics.median(times["released (loop, fp32)"])
    print(f"{'path':40} {'median ms':>10} {'min-max ms':>17} {'speed-up':>9}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:40} {median * 1e3:10.2f} {min(seconds) * 1e3:8.2f}-{max(seconds) * 1e3:8.2f} "
              f"{baseline / median:8.2f}x")

if __name__ == "__main__":
    main()
