"""Seconds to translate one 256x256 image into 8 styles with the default model.

The released test recipe, written with our modules: encode once, then decode one style at a
time, float32, eager, each decoder upsampling then convolving at full size. Ours, as `munit
translate` runs it: `munit_cli.inference.translate` (the decoder's content-only convolution once per
image, upsampling convolutions computed at the low resolution), with the weights cast once to the
precision (`--precision auto`, the default: bf16 where the hardware computes it natively, else
float32) and in float32; and the exported ONNX graph run by ONNX Runtime (when the onnx extra is
installed).

    python benchmarks/translate.py --compile
    python benchmarks/translate.py --device cuda --repeats 20
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch

from munit_cli import MUNIT, ModelConfig
from munit_cli.inference import sample_styles, translate
from munit_cli.precision import cast_for_inference, resolve_precision


def timed(fn, repeats: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n-styles", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile'd decoder")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MUNIT(ModelConfig(), discriminators=False).to(device).eval()
    x = torch.rand(1, 3, args.size, args.size, device=device) * 2 - 1
    styles = sample_styles(args.n_styles, model.config.style_dim, seed=0, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def released():
        model.gen_b.dec.fast_convs = False  # the released decoder: upsample, then a full-size conv
        content, _ = model.gen_a.encode(x)  # test.py encodes content and (unused) style
        out = [model.gen_b.decode(content, styles[k:k + 1]) for k in range(len(styles))]
        model.gen_b.dec.fast_convs = True
        return out

    casts = {}  # precision -> a copy of the generators with weights of that dtype

    def ours(precision: str, chunk: int | None = None):
        if precision not in casts:
            casts[precision] = cast_for_inference(copy.deepcopy(model), precision)
        cast = casts[precision]
        return lambda: translate(cast.gen_a, cast.gen_b, x, styles, chunk=chunk)

    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, default model, "
          f"one {args.size}x{args.size} image into {args.n_styles} styles, {args.repeats} timed runs after "
          f"{args.warmup} warm-up")
    auto = resolve_precision("auto", device)
    rows = [("released (loop, fp32)", timed(released, args.repeats, args.warmup, sync)),
            (f"ours, default (auto = {auto})", timed(ours("auto"), args.repeats, args.warmup, sync)),
            ("ours, --precision fp32", timed(ours("fp32"), args.repeats, args.warmup, sync)),
            (f"ours, {auto}, {len(styles)} styles in 1 batch", timed(ours("auto", len(styles)), args.repeats,
                                                                     args.warmup, sync))]
    if not args.no_onnx and device.type == "cpu":
        try:
            import onnxruntime as ort

            from munit_cli.export import export_onnx
        except ImportError:
            print("(onnxruntime not installed: skipping the ONNX Runtime row)")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                exported = export_onnx(model, Path(tmp) / "m", "A2B")
                session = ort.InferenceSession(str(exported.translate_path), providers=["CPUExecutionProvider"])
                feed = {"image": x.repeat(len(styles), 1, 1, 1).numpy(), "style": styles.numpy()}
                rows.append(("onnxruntime (one batch, fp32)",
                             timed(lambda: session.run(None, feed), args.repeats, args.warmup, sync)))
                feeds = [{"image": x.numpy(), "style": styles[k:k + 1].numpy()} for k in range(len(styles))]
                rows.append(("onnxruntime (per style, fp32)",
                             timed(lambda: [session.run(None, f) for f in feeds], args.repeats, args.warmup, sync)))
    if args.compile:  # torch.compile the decoder; the first call compiles (timed separately)
        start = time.perf_counter()
        compiled = ours("auto")
        casts["auto"].gen_b.dec = torch.compile(casts["auto"].gen_b.dec)
        compiled()
        print(f"torch.compile of the decoder took {time.perf_counter() - start:.1f} s")
        rows.append((f"ours, {auto}, compiled", timed(compiled, args.repeats, args.warmup, sync)))
    baseline = rows[0][1]
    print(f"{'path':34} {'s/image':>8} {'speed-up':>9}")
    for name, seconds in rows:
        print(f"{name:34} {seconds:8.3f} {baseline / seconds:8.2f}x")


if __name__ == "__main__":
    main()
