"""Do the speed levers keep training healthy? Loss curves on the demo data, three ways.

- released order: D step on its own fresh translations, then G step (float32);
- reuse: G step first, D step on its translations, detached (float32; the default);
- reuse + bf16 autocast.

Same seed, data and model (a small model on the demo's shapes data). Prints the mean and standard deviation
of each curve's last third and writes a chart (benchmarks/loss_curves.png by default).

    python benchmarks/loss_curves.py --iterations 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from munit_cli.callbacks import MetricsLogger
from munit_cli.config import ModelConfig, TrainConfig
from munit_cli.demo import DOMAINS, make_shapes_dataset
from munit_cli.train import TrainData, Trainer

# The first `munit demo` model (the recorded results in results_loss_curves_cpu.txt used it).
MODEL = ModelConfig(gen_dim=16, style_dim=8, mlp_dim=64, n_res=2, dis_dim=16, dis_n_layer=3, dis_num_scales=2)
VARIANTS = {
    "released order, fp32": dict(reuse_translations=False, precision="fp32"),
    "reuse, fp32": dict(reuse_translations=True, precision="fp32"),
    "reuse, bf16": dict(reuse_translations=True, precision="bf16"),
}
COLOURS = ["black", "royalblue", "orangered"]
TERMS = ["gen/total", "gen/recon_x_a", "gen/recon_x_b", "dis/total"]


def smooth(values: list[float], window: int = 20) -> list[float]:
    return [statistics.fmean(values[max(0, i - window + 1): i + 1]) for i in range(len(values))]


def chart(curves: dict[str, dict[str, list[float]]], path: Path) -> None:
    width, height, pad = 360, 200, 30
    img = Image.new("RGB", (len(TERMS) * (width + pad) + pad, height + 2 * pad + 16 * len(curves)), "white")
    draw = ImageDraw.Draw(img)
    for t, term in enumerate(TERMS):
        x0 = pad + t * (width + pad)
        series = {name: smooth(c[term]) for name, c in curves.items()}
        lo = min(min(s) for s in series.values())
        hi = max(max(s) for s in series.values())
        draw.rectangle([x0, pad, x0 + width, pad + height], outline="grey")
        draw.text((x0, 8), f"{term} (smoothed)  {lo:.2f} .. {hi:.2f}", fill="black")
        for colour, values in zip(COLOURS, series.values()):
            points = [(x0 + width * i / max(len(values) - 1, 1),
                       pad + height - height * (v - lo) / max(hi - lo, 1e-9)) for i, v in enumerate(values)]
            draw.line(points, fill=colour, width=2)
    for i, (colour, name) in enumerate(zip(COLOURS, curves)):
        draw.text((pad, height + 2 * pad + 16 * i - 10), f"--- {name}", fill=colour)
    img.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chart", type=Path, default=Path(__file__).with_name("loss_curves.png"))
    args = parser.parse_args()

    curves: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = make_shapes_dataset(Path(tmp) / "data", n_train=300, n_test=2, size=32, seed=args.seed)
        for name, changes in VARIANTS.items():
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            config = TrainConfig(model=MODEL, image_size=32, batch_size=4, iterations=args.iterations,
                                 seed=args.seed, workers=0, lr=4e-4, log_every=1, n_samples=2,
                                 checkpoint_every=10**9, sample_every=10**9, **changes)
            data = TrainData.from_folder(root, *DOMAINS, config)
            Trainer(config, data, out, DOMAINS, device="cpu", callbacks=[MetricsLogger(out)]).fit()
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            curves[name] = {term: [r[term] for r in records] for term in TERMS}

    tail = args.iterations // 3
    print(f"mean +- std over the last {tail} of {args.iterations} iterations (demo data, batch 4, 32x32)")
    print(f"{'variant':22}" + "".join(f"{term:>22}" for term in TERMS))
    for name, c in curves.items():
        cells = [f"{statistics.fmean(c[t][-tail:]):.3f} +- {statistics.stdev(c[t][-tail:]):.3f}" for t in TERMS]
        print(f"{name:22}" + "".join(f"{cell:>22}" for cell in cells))
    chart(curves, args.chart)
    print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
