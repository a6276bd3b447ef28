"""How well the quality benchmark's target-likeness test agrees with a person.

120 translations from the `w32` runs' final pictures (`quality_runs/w32-*-ema0.999.png` as committed
at 2e13f43: every recipe of the study, 5 to 30 CPU-minutes), drawn at random and shuffled, were
shown enlarged 2x with only their index and labelled by one person, blind to the recipe:
"painted" when the image would pass for one of the paint domain, one solid-coloured shape on a
plain background (a thin rim or a soft edge allowed; an outline, a thick ring of another colour,
a mottled or multicoloured inside, or blotches in the background not). The tiles are in
`target_likeness/tiles.png` (64x64 each, in index order, 10 a row), the labels in
`target_likeness/labels.jsonl`.

This prints the agreement of `munit_cli.quality.looks_painted` with the labels, per source run,
then the search behind its thresholds: every combination of colour tolerance, core erosion and
fill and background shares, with the agreement of the best on one half when it is chosen on the
other (20 random splits), so that the chosen rule is not just fitted to these 120 images.

    python benchmarks/target_likeness_calibration.py
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import statistics
from pathlib import Path

import torch
from PIL import Image

from munit_cli.data import to_model_range
from munit_cli.quality import MIN_AREA, SOLID, erode, foreground, looks_painted, share_close

HERE = Path(__file__).parent / "target_likeness"
TILE, PAD, PER_ROW = 64, 2, 10


def load() -> tuple[list[torch.Tensor], list[dict]]:
    labels = [json.loads(line) for line in (HERE / "labels.jsonl").read_text().splitlines()]
    sheet = Image.open(HERE / "tiles.png").convert("RGB")
    images = []
    for k in range(len(labels)):
        x, y = PAD + (k % PER_ROW) * (TILE + PAD), PAD + (k // PER_ROW) * (TILE + PAD)
        images.append((to_model_range(sheet.crop((x, y, x + TILE, y + TILE))) + 1) / 2)
    return images, labels


# The rules searched: (colour tolerance, core erosion in pixels, fill share, background share).
GRID = list(itertools.product((0.1, 0.15, 0.2, 0.25), (0, 1, 2), (0.5, 0.6, 0.7, 0.8, 0.9), (0.8, 0.85, 0.9, 0.95)))
GRID_TOLERANCES = sorted({rule[0] for rule in GRID})


def features(image: torch.Tensor) -> dict:
    fg = foreground(image)
    area = fg.float().mean().item()
    shape_ok = MIN_AREA <= area <= 1 - MIN_AREA and (erode(fg, 1).sum() / fg.sum().clamp(min=1)).item() >= SOLID
    f = {"shape_ok": shape_ok}
    for tolerance in GRID_TOLERANCES:
        f[("bg", tolerance)] = share_close(image, ~fg, tolerance)
        for radius in (0, 1, 2):
            f[("fill", tolerance, radius)] = share_close(image, erode(fg, radius) if radius else fg, tolerance)
    return f



def predict(f: dict, rule: tuple) -> bool:
    tolerance, radius, fill, background = rule
    return f["shape_ok"] and f[("fill", tolerance, radius)] >= fill and f[("bg", tolerance)] >= background


def agreement(feats: list[dict], truth: list[bool], rule: tuple, subset: list[int]) -> float:
    return sum(predict(feats[i], rule) == truth[i] for i in subset) / len(subset)


def main() -> None:
    images, labels = load()
    truth = [r["painted"] for r in labels]
    ours = [looks_painted(image, foreground(image)) for image in images]
    print(f"{len(labels)} labelled translations, {sum(truth)} painted by the labeller")
    print(f"munit_cli.quality.looks_painted agrees on {sum(a == b for a, b in zip(ours, truth)) / len(truth):.1%} "
          f"(passes {sum(ours)})")
    by_source = collections.defaultdict(list)
    for r, mine in zip(labels, ours):
        by_source[r["source"]].append((r["painted"], mine))
    print(f"\n{'source picture':52}{'tiles':>6}{'person':>8}{'rule':>7}")
    for source, pairs in sorted(by_source.items()):
        print(f"{source:52}{len(pairs):6}{statistics.fmean(p for p, _ in pairs):8.0%}"
              f"{statistics.fmean(m for _, m in pairs):7.0%}")

    feats = [features(image) for image in images]
    everyone = list(range(len(truth)))
    ranked = sorted(GRID, key=lambda rule: -agreement(feats, truth, rule, everyone))
    print("\nbest rules on all 120 (tolerance, core erosion px, fill share, background share): agreement")
    for rule in ranked[:5]:
        print(f"  {rule}: {agreement(feats, truth, rule, everyone):.1%}")
    first = (0.1, 0, 0.8, 0.9)  # the benchmark's first rule: the whole foreground, 80% even
    print(f"  the first rule {first}: {agreement(feats, truth, first, everyone):.1%}")
    rng, held_out = random.Random(0), []
    for _ in range(20):
        order = everyone[:]
        rng.shuffle(order)
        fit, check = order[:60], order[60:]
        best = max(GRID, key=lambda rule: agreement(feats, truth, rule, fit))
        held_out.append(agreement(feats, truth, best, check))
    print(f"chosen on one half, scored on the other (20 splits): {statistics.fmean(held_out):.1%} "
          f"(min {min(held_out):.1%})")


if __name__ == "__main__":
    main()
