"""How good are the translations? Training recipes scored on the shapes domains against ground truth.

Sketch -> paint at 64x64 (the demo's domains, drawn at 64 pixels: 1,000 training images per domain),
a model of width 32 (gen_dim and dis_dim 32, the rest as the recipe has it: the released recipe's
two downsamplings, the default's one at this size), the recipe's batch size (the released recipe's
1, the default's 4). Every ``--eval-every``
iterations the source domain's 64 held-out sketches are translated in 4 fixed random styles and
scored by ``munit_cli.quality``: content kept (IoU with the true mask), target-likeness (share of
translations that look painted), even fill (its graded part: the share of a shape's pixels close to
its median colour) and diversity (pixel difference between one input's styles).
Scores are taken with the raw generators and with EMA copies at several decays (the EMAs do not
change training, so one run scores them all). Step 0 is the floor (an untrained model); real
paintings of the same shapes are the ceiling.

Runs compare at equal iterations; ``speed`` measures each recipe's iterations per second on an idle
CPU, which ``report`` uses to turn CPU-minute budgets into iterations (training at 2 threads).

    python benchmarks/quality.py run today --seed 0 --iterations 8000        # one run -> quality_runs/
    python benchmarks/quality.py run today --seed 0 --iterations 12000 --continue   # the same run, further
    python benchmarks/quality.py run today+lr-decay --seed 0 --iterations 12000 --branch-from today
        # the change from where the run of ``today`` stopped: its state and records are copied first
    python benchmarks/quality.py speed released today default               # it/s, 2 threads, idle CPU
    python benchmarks/quality.py report --budgets 5 15 30                      # the table (+ pictures)
    python benchmarks/quality.py compare today today+ttur --seeds 0 1 --steps 1000 2000   # seed by seed
    python benchmarks/quality.py picture w32-today-s0 --step 1000   # a run's picture from its kept weights
    python benchmarks/quality.py errors w32-today-s0 --steps 1000   # where its content kept is lost
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from munit_cli.config import RELEASED, ModelConfig, TrainConfig, replace, to_dict, train_config_from_dict
from munit_cli.data import image_grid, save_image
from munit_cli.demo import DEMO_MODEL, DEMO_TRAIN_IMAGES, DOMAINS, demo_train_config, make_shapes_dataset
from munit_cli.errors import TrainingError
from munit_cli.inference import sample_styles, translate
from munit_cli.model import MUNIT
from munit_cli.quality import RULES_VERSION, HeldOutShapes, erode, foreground, score
from munit_cli.resume import RESUME_FILE
from munit_cli.train import TrainData, Trainer, ema_decay_at

HERE = Path(__file__).parent
RUNS = HERE / "quality_runs"
N_TRAIN, N_HELD_OUT, K_STYLES = 1000, 64, 4
# Where a recipe is measured: "w32", 64x64 with a model of width 32 (gen_dim and dis_dim, the rest as
# released); "small", 32x32 with `munit demo`'s model, about 8x cheaper an iteration, where a
# recipe's effect shows within minutes (the study's first pass); "demo", the small setting with the
# demo's 300 training images a domain (recipe "demo" is `munit demo`'s).
SETTINGS = {
    "w32": dict(size=64, model=dict(gen_dim=32, dis_dim=32), n_train=N_TRAIN),
    "small": dict(size=32, model=to_dict(DEMO_MODEL), n_train=N_TRAIN),
    "demo": dict(size=32, model=to_dict(DEMO_MODEL), n_train=DEMO_TRAIN_IMAGES),
}

# A recipe is a base and changes, "BASE+CHANGE+CHANGE...": bases are settings over the released
# recipe (config.RELEASED), "default" (TrainConfig()) or "demo" (`munit demo`'s recipe,
# demo.demo_train_config); "today" is the default before this study. "default" keeps the adversarial
# weight 1 and the two downsamplings that its records were run with: the default now is
# "default+gan-2x+down-1" at 64x64 (adversarial weight 2 adopted 2026-12-01; the downsampling by image
# size, ModelConfig.at_image_size, 2026-12-07), and so does "demo": `munit demo`'s recipe now is
# "demo+gan-2x" (adopted 2026-12-02). Changes apply in order; nested tables ("model", "loss") merge.
BASES: dict[str, dict] = {
    "released": dict(precision="fp32"),
    "today": dict(precision="bf16", reuse_translations=True),
    "default": {"loss": {"gan_w": 1.0}, "model": {"n_downsample": 2}},
    "demo": {"loss": {"gan_w": 1.0}},
}
CHANGES: dict[str, dict] = {
    "ema": {},  # the EMA is scored in every run (it does not change training): a name for the rows
    # the recipe as it is, run again under today's code and rules, beside records of it that predate them
    "again": {},
    "ttur": {"lr_dis": 4e-4},
    "lr-2x": {"lr": 2e-4},
    "lr-4x": {"lr": 4e-4},
    "hinge": {"model": {"gan_type": "hinge"}},
    "nsgan": {"model": {"gan_type": "nsgan"}},
    "r1": {"r1_gamma": 1.0},
    "r1-0.1": {"r1_gamma": 0.1},
    "sn": {"model": {"dis_norm": "sn"}},  # spectral norm on every discriminator convolution
    "no-sn": {"model": {"dis_norm": "none"}},
    "gan-2x": {"loss": {"gan_w": 2.0}},
    "gan-4x": {"loss": {"gan_w": 4.0}},
    "style-2x": {"loss": {"recon_s_w": 2.0}},
    "content-2x": {"loss": {"recon_c_w": 2.0}},
    # no content reconstruction: the sketch's code holds its outline, and asking the paint encoder to
    # find that code again in the painting may be what draws the outline back as a rim; the explicit
    # cycle loss still asks a translation to keep the content
    "no-content-recon": {"loss": {"recon_c_w": 0.0}},
    "no-cycle": {"loss": {"recon_x_cyc_w": 0.0}},
    # the learning rates fall linearly to 0 over the run's second half (CycleGAN's schedule); its
    # first half is the recipe without it, so a run of it can branch from one (run --branch-from)
    "lr-decay": {"lr_decay": 0.5},
    "augment": {"dis_augment": "translation+cutout+colour"},  # DiffAugment's policy for few images
    "betas-0-0.99": {"beta1": 0.0, "beta2": 0.99},
    "no-weight-decay": {"weight_decay": 0.0},
    "cycle": {"loss": {"recon_x_cyc_w": 10.0}},
    "no-reuse": {"reuse_translations": False},
    "batch-1": {"batch_size": 1},  # the default's batch size until this study adopted 4
    "batch-4": {"batch_size": 4},
    "batch-8": {"batch_size": 8},  # 1.20x the images a second of batch 4 at w32 (Xeon with AMX)
    "batch-16": {"batch_size": 16},  # 2.05x the images a second of batch 4 with the demo's model
    "fp32": {"precision": "fp32"},
    # the model, not the recipe: two downsamplings and four residual blocks (as released) where the
    # setting has fewer, so the content code sees the whole shape (filling it needs inside/outside)
    "deeper": {"model": {"n_downsample": 2, "n_res": 4}},
    # the same downsampling with four residual blocks where the setting has two: a wider view of
    # each pixel's surroundings (inside or outside an outline?) at the content code's resolution
    "res-4": {"model": {"n_res": 4}},
    # a discriminator that judges smaller patches: one stride-2 layer fewer per scale (w32 has 4, the
    # demo's model 3), aimed at the soft edges and mottled fills that `errors` finds; cheaper too
    "dis-layers-3": {"model": {"dis_n_layer": 3}},
    "dis-layers-2": {"model": {"dis_n_layer": 2}},
    # one image scale more (w32 and the demo's model have 3 and 2): with dis-layers-2, small patches
    # judged at full size and the whole shape at the smallest scale
    "dis-scales-3": {"model": {"dis_num_scales": 3}},
    # a discriminator twice as wide (w32 has 32 filters in its first layer, the demo's model 16)
    "dis-dim-64": {"model": {"dis_dim": 64}},
    "dis-dim-32": {"model": {"dis_dim": 32}},
    # StarGAN v2's diversity-sensitive term (loss.ds_w): a second style's translation of each content,
    # their difference rewarded; aimed at the styles the default makes too alike (diversity)
    "ds-1": {"loss": {"ds_w": 1.0}},
    # one downsampling where w32 has two: a content code at half the image's side (32x32 at 64x64, as
    # the demo's 16x16 at 32x32), so edges are placed to 2 pixels, not 4; the residual blocks cost the
    # same (4x the positions, half the channels), aimed at the soft edges `errors` finds
    "down-1": {"model": {"n_downsample": 1}},
    # DRIT's content discriminator (model.content_dis, loss.content_gan_w 1): the two domains' content
    # codes asked to agree directly, so that the paint decoder meets sketch codes like those it learns
    # to reconstruct crisply; aimed at the outline's rim and the soft edges
    "content-dis": {"model": {"content_dis": True}},
}


# Changes of loss weights or schedules alone (or none: "again"): the step computes the same thing, so
# a recipe with them is timed as the recipe without them (``timed_as``).
WEIGHT_ONLY = {"gan-2x", "gan-4x", "style-2x", "content-2x", "no-content-recon", "lr-decay", "again"}


def timed_as(recipe: str) -> str:
    """The recipe whose timing ``recipe`` shares: the same without its loss-weight changes."""
    return "+".join(part for i, part in enumerate(recipe.split("+")) if i == 0 or part not in WEIGHT_ONLY)


def _merge(values: dict, changes: dict) -> dict:
    return {**values, **{k: {**values[k], **v} if isinstance(v, dict) else v for k, v in changes.items()}}


def recipe_config(name: str, seed: int, iterations: int, setting: str = "w32") -> TrainConfig:
    base, *changes = name.split("+")
    if base not in BASES or any(c not in CHANGES for c in changes):
        raise SystemExit(f"unknown recipe {name!r}: BASE+CHANGE+... with BASE in {', '.join(BASES)} "
                         f"and CHANGE in {', '.join(CHANGES)}")
    start = {"default": TrainConfig(), "demo": demo_train_config()}.get(base, RELEASED)
    values = _merge(to_dict(start), BASES[base])
    values["model"] = {**values["model"], **SETTINGS[setting]["model"]}
    for change in changes:  # after the setting's model, so a change may alter the model too
        values = _merge(values, CHANGES[change])
    values["ema_decay"] = values["ema_decay"] or 0.999  # scored with and without; EMA does not change training
    config = train_config_from_dict(values)
    return replace(config, image_size=SETTINGS[setting]["size"], iterations=iterations, seed=seed, workers=0,
                   compile=False)


def held_out(setting: str) -> HeldOutShapes:
    return HeldOutShapes.draw(N_HELD_OUT, SETTINGS[setting]["size"], K_STYLES, seed=10_000)


def held_out_styles(config: TrainConfig) -> torch.Tensor:
    """The fixed styles every run's held-out sketches are translated in (``run`` and ``rescore`` alike)."""
    return sample_styles(K_STYLES, config.model.style_dim, seed=1)


def run_name(setting: str, recipe: str, seed: int) -> str:
    return f"{setting}-{recipe}-s{seed}"


def read_records(path: Path) -> list[dict]:
    """A run's records, one JSON object a line."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def translations(model_config: ModelConfig, weights: dict[str, torch.Tensor], sketches: torch.Tensor,
                 styles: torch.Tensor) -> torch.Tensor:
    model = MUNIT(model_config, DOMAINS, discriminators=False, init_weights=False)
    model.load_state_dict(weights)
    return translate(model.gen_a.eval(), model.gen_b.eval(), sketches, styles)


def run(args: argparse.Namespace) -> None:
    """Train one recipe, scoring it every ``--eval-every`` iterations; with ``--continue``, from where
    an earlier run of it stopped (its training state is kept in quality_runs/state/), to
    ``--iterations``: the records then equal a run straight to that length where the earlier one
    ended at an evaluation step (the training state includes the random generator's)."""
    torch.set_num_threads(args.threads)
    config = recipe_config(args.recipe, args.seed, args.iterations, args.setting)
    n_train = SETTINGS[args.setting]["n_train"]
    data_root = RUNS / f"data-{config.image_size}" if n_train == N_TRAIN else RUNS / f"data-{config.image_size}-{n_train}"
    if not (data_root / "train" / "paint").is_dir():
        make_shapes_dataset(data_root, n_train=n_train, n_test=4, size=config.image_size, seed=0)
    data = TrainData.from_folder(data_root, *DOMAINS, config)
    name = run_name(args.setting, args.recipe, args.seed)
    out = RUNS / f"{name}.jsonl"
    resume = args.resume or args.branch_from is not None
    if args.branch_from:
        branch(run_name(args.setting, args.branch_from, args.seed), name, args.recipe)
    if resume and args.emas:
        raise SystemExit("--continue keeps the trainer's EMA only; leave out --emas")
    trainer = Trainer(config, None, RUNS / "state" / name, DOMAINS, device="cpu", resume=resume)
    if trainer.step >= args.iterations:
        raise SystemExit(f"{name} is already at step {trainer.step}; --iterations must be more to continue it")
    loaders = data.loaders(config, trainer.dist, trainer.samples_seen, pin_memory=False)
    streams = [iter(loader) for loader in loaders]
    test = held_out(args.setting)
    styles = held_out_styles(config)
    live = trainer.generator_state()
    # Extra EMAs (--emas), besides the trainer's own (extra_ema_decay says how they are read).
    emas = {spec: {k: v.clone() for k, v in live.items()} for spec in args.emas}
    kept_path(name, 0).parent.mkdir(parents=True, exist_ok=True)
    earlier = read_records(out) if resume else []
    if not resume:
        out.write_text("")
    # Seconds and the finite flag go on from the earlier records.
    started = time.perf_counter() - max((r["seconds"] for r in earlier), default=0.0)
    finite = all(r["finite"] for r in earlier)

    def evaluate(step: int) -> None:
        weights = {"raw": live, f"ema{config.ema_decay}": trainer.ema,
                   **{f"ema{spec}": ema for spec, ema in emas.items()}}
        # The scored weights are kept (not committed) so that a later score can be computed without training again.
        save_file({k: v.contiguous() for k, v in trainer.ema.items()}, kept_path(name, step))
        scores = {}
        for label, state in weights.items():
            result = translations(config.built_model, state, test.sketches, styles)
            scores[label] = score(result, test.masks)
            record = {"setting": args.setting, "recipe": args.recipe, "seed": args.seed, "step": step, "weights": label,
                      "finite": finite, "seconds": time.perf_counter() - started, **scores[label].as_dict(),
                      "rules": RULES_VERSION}
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if step == args.iterations and label != "raw":
                save_picture(test.sketches, result, RUNS / f"{name}-{label}.png")
        print(f"{args.setting} {args.recipe} seed {args.seed} step {step}: "
              + scores[f"ema{config.ema_decay}"].summary(), flush=True)

    trainer.model.train()
    if not resume:
        evaluate(0)
    for step in range(trainer.step + 1, args.iterations + 1):
        x_a, x_b = (next(stream)[0] for stream in streams)
        losses = trainer.train_step(x_a, x_b)
        with torch.no_grad():
            for spec, ema in emas.items():
                torch._foreach_lerp_(list(ema.values()), list(live.values()), 1 - extra_ema_decay(spec, step - 1))
        if step % args.eval_every == 0 or step == args.iterations:
            finite = finite and bool(torch.isfinite(torch.stack(list(losses.values()))).all())
            evaluate(step)
    trainer.samples_seen = args.iterations * config.batch_size  # this loop feeds the trainer itself
    try:
        trainer.save()  # the training state, for --continue (about 180 MB at w32)
    except TrainingError as e:  # a non-finite loss: the records say so; nothing to continue from
        print(f"training state not kept: {e}")
    for path in trainer.ckpt_dir.glob("*.safetensors"):  # the weights are in the resume state too
        if path.name != RESUME_FILE:
            path.unlink()


def save_picture(sketches: torch.Tensor, result: torch.Tensor, path: Path) -> None:
    """The first 8 held-out sketches (left) and their translations in the fixed styles."""
    save_image(image_grid([[x, *r] for x, r in zip(sketches[:8], result[:8])]), path)


def kept_path(run: str, step: int) -> Path:
    """Where a run kept its EMA weights of ``step``."""
    return RUNS / "weights" / run / f"step-{step:06d}.safetensors"


def run_setup(run: str) -> tuple[TrainConfig, HeldOutShapes, torch.Tensor]:
    """A run's config, held-out set and fixed styles, its recipe, seed and setting read from its records."""
    first = read_records(RUNS / f"{run}.jsonl")[0]
    config = recipe_config(first["recipe"], first["seed"], 1, first["setting"])
    return config, held_out(first["setting"]), held_out_styles(config)


def kept_translations(run: str, step: int, config: TrainConfig, test: HeldOutShapes,
                      styles: torch.Tensor) -> torch.Tensor:
    """A run's held-out translations from the EMA weights it kept at ``step``."""
    kept = kept_path(run, step)
    if not kept.is_file():
        raise SystemExit(f"{run} kept no weights at step {step} ({kept} is missing)")
    return translations(config.built_model, load_file(kept), test.sketches, styles)


def picture(args: argparse.Namespace) -> None:
    """A run's picture at one evaluation step, from the EMA weights it kept there (for a run stopped
    before its last step, or to look back at an earlier one)."""
    torch.set_num_threads(args.threads)
    config, test, styles = run_setup(args.run)
    result = kept_translations(args.run, args.step, config, test, styles)
    out = RUNS / f"{args.run}-ema{config.ema_decay}-step{args.step}.png"
    save_picture(test.sketches, result[:8], out)
    print(out)


EDGE = 2  # pixels: a wrong foreground pixel this close to the shape is its edge's (blur, a rim), farther the background's


def errors(args: argparse.Namespace) -> None:
    """Where a run's translations lose content kept (IoU): the share of each translation's foreground
    on the true shape (precision) and of the shape it covers (recall), and whether the wrong
    foreground pixels hug the shape's edge (a soft edge or a rim) or lie farther out (blotches,
    shadows)."""
    torch.set_num_threads(args.threads)
    config, test, styles = run_setup(args.run)
    for step in args.steps:
        result = kept_translations(args.run, step, config, test, styles)
        images = (result.float().clamp(-1, 1) + 1) / 2
        counts = torch.zeros(5)  # true, shape pixels, foreground pixels, wrong near the edge, wrong farther out
        for i, mask in enumerate(test.masks):
            near = ~erode(~mask, EDGE)  # the shape grown by EDGE pixels
            for image in images[i]:
                fg = foreground(image)
                counts += torch.tensor([(fg & mask).sum(), mask.sum(), fg.sum(), (fg & near & ~mask).sum(),
                                        (fg & ~near).sum()], dtype=torch.float)
        true, shape, fg, near_edge, far = counts.tolist()
        print(f"{args.run} step {step}: precision {true / fg:.3f}, recall {true / shape:.3f}; wrong foreground "
              f"{(fg - true) / shape:.3f} of the shape's area ({near_edge / shape:.3f} within {EDGE} px of its "
              f"edge, {far / shape:.3f} farther out); missed {(shape - true) / shape:.3f}", flush=True)


def extra_ema_decay(spec: str, step: int) -> float:
    """The decay at ``step`` (from 0) of an extra EMA: "0.99" with the trainer's warm-up, "0.999-plain"
    without one, "0.9999-w3" with the warm-up (1 + step) / (3 + step) in place of the trainer's
    (1 + step) / (10 + step) (``train.ema_decay_at``'s ``warmup``)."""
    if spec.endswith("-plain"):
        return float(spec.removesuffix("-plain"))
    decay, _, warmup = spec.partition("-w")
    return ema_decay_at(step, float(decay), int(warmup or 10))


def branch(parent: str, name: str, recipe: str) -> None:
    """Start run ``name`` as a copy of run ``parent``: its training state, kept weights and records
    (renamed to ``recipe``), for a change that leaves training up to the parent's last step as it was
    (``lr-decay``'s first half, for instance): the pair then differs only by the change from there."""
    state = RUNS / "state" / parent
    if not (state / "checkpoints" / RESUME_FILE).is_file():
        raise SystemExit(f"--branch-from: {parent} kept no training state; run it first")
    for kept in ("state", "weights"):
        shutil.rmtree(RUNS / kept / name, ignore_errors=True)
        shutil.copytree(RUNS / kept / parent, RUNS / kept / name)
    records = read_records(RUNS / f"{parent}.jsonl")
    (RUNS / f"{name}.jsonl").write_text("".join(json.dumps({**r, "recipe": recipe}) + "\n" for r in records))


def rescore(args: argparse.Namespace) -> None:
    """Scores runs again by today's rules from the weights they kept (the EMA's, at every evaluation);
    records without kept weights (the raw generators, runs from before weights were kept) keep their
    scores and rules version."""
    torch.set_num_threads(args.threads)
    for name in args.runs:
        path = RUNS / f"{name}.jsonl"
        records = read_records(path)
        config, test, styles = run_setup(name)
        done = 0
        for record in records:
            if record["weights"] == f"ema{config.ema_decay}" and kept_path(name, record["step"]).is_file():
                result = kept_translations(name, record["step"], config, test, styles)
                record.update(score(result, test.masks).as_dict(), rules=RULES_VERSION)
                done += 1
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"{name}: {done} of {len(records)} records scored again (rules version {RULES_VERSION})")


def speed(args: argparse.Namespace) -> None:
    """Iterations per second of each recipe (no evaluation), the median of 3 timings of 50 steps."""
    torch.set_num_threads(args.threads)
    for name in args.recipes:
        config = recipe_config(name, 0, 10**6, args.setting)
        x = torch.rand(1, 3, config.image_size, config.image_size) * 2 - 1
        trainer = Trainer(config, None, RUNS / "tmp", DOMAINS, device="cpu")
        xs = x.expand(config.batch_size, -1, -1, -1).contiguous()
        for _ in range(10):
            trainer.train_step(xs, xs)
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(50):
                trainer.train_step(xs, xs)
            timings.append(50 / (time.perf_counter() - start))
        print(json.dumps({"setting": args.setting, "recipe": name, "it_per_s": statistics.median(timings),
                          "threads": args.threads}), flush=True)


TIMING_NOISE = 0.15  # how much one recipe's timings vary from minute to minute (results_quality_speed_cpu.txt)
# Budgets are minutes on the machine the study began on (an AMD EPYC, Zen 4, 2 cores). A ``speed``
# command run elsewhere says so in its comment with this mark, and times the reference recipe too:
# its timings are converted by the reference's speed ratio, whichever machine is faster.
OTHER_MACHINE = "other machine:"


def recipe_speeds(setting: str) -> dict[str, float]:
    """Each recipe's it/s: the best of its timings (other load only slows a run down). Where a
    ``speed`` command also timed the reference recipe and found it slower than its best by more than
    timings vary from minute to minute (15%), the machine was slower that day: the command's timings
    are scaled up by the reference's slowdown first, so that a recipe timed only on a slow day is not
    undercounted. A command on another machine (``OTHER_MACHINE``) is always scaled so."""
    reference = "demo" if setting == "demo" else "default"  # the recipe every setting's commands time
    blocks: list[tuple[bool, dict[str, float]]] = [(False, {})]
    for line in (HERE / "results_quality_speed_cpu.txt").read_text().splitlines():
        if line.startswith("$"):
            blocks.append((OTHER_MACHINE in line, {}))
        elif line.startswith("{"):
            record = json.loads(line)
            if record["setting"] == setting:
                blocks[-1][1][record["recipe"]] = record["it_per_s"]
    best_reference = max((b[reference] for other, b in blocks if reference in b and not other), default=None)
    speeds: dict[str, float] = {}
    for other, block in blocks:
        if other and block and reference not in block:
            raise SystemExit(f"a speed command on another machine must time {reference!r} too")
        slowdown = best_reference / block[reference] if reference in block else 1.0
        slowdown = slowdown if other or slowdown > 1 + TIMING_NOISE else 1.0
        for recipe, it_per_s in block.items():
            speeds[recipe] = max(it_per_s * slowdown, speeds.get(recipe, 0.0))
    return speeds


def report(args: argparse.Namespace) -> None:
    speeds = recipe_speeds(args.setting)
    records = [r for path in sorted(RUNS.glob(f"{args.setting}-*.jsonl")) for r in read_records(path)]
    test = held_out(args.setting)
    ceiling = score(test.paintings, test.masks)
    print(f"ceiling (real paintings of the held-out shapes, {K_STYLES} colourings each): {ceiling.summary()}")
    floor = [r for r in records if r["step"] == 0 and r["weights"] == "raw"]
    # target-likeness by today's rules (a step-0 EMA is the untrained model too)
    floor_now = [r for r in records if r["step"] == 0 and r.get("rules") == RULES_VERSION]
    if floor:
        print(f"floor (untrained, step 0, mean of {len(floor)} runs): content kept "
              f"{statistics.fmean(r['content_kept'] for r in floor):.3f}, target-likeness "
              + (f"{statistics.fmean(r['target_likeness'] for r in floor_now):.1%}" if floor_now else "-")
              + f", diversity "
              f"{statistics.fmean(r['diversity'] for r in floor):.3f}, even fill "
              + (f"{statistics.fmean(r['even_fill'] for r in floor if 'even_fill' in r):.1%}"
                 if any("even_fill" in r for r in floor) else "-"))
    print("\nbudgets in CPU-minutes (2 threads) -> iterations by each recipe's it/s; "
          "cells: content IoU / target-likeness / even fill / diversity, mean over seeds (+- half the range)")
    recipes = sorted({r["recipe"] for r in records}, key=lambda name: (name.count("+"), name))
    for weights in args.weights:
        print(f"\nweights: {weights}")
        print(f"{'recipe':24}{'it/s':>6}{'seeds':>6}" + "".join(f" {f'{b} min':>62}" for b in args.budgets))
        for recipe in recipes:
            mine = [r for r in records if r["recipe"] == recipe and r["weights"] == weights]
            speed = speeds.get(recipe, speeds.get(timed_as(recipe)))
            if not mine or speed is None:
                continue
            seeds = sorted({r["seed"] for r in mine})
            cells = []
            for budget in args.budgets:
                target = budget * 60 * speed
                at = []
                for seed in seeds:  # each run's last evaluation within the budget, if the run got that far
                    steps = [r for r in mine if r["seed"] == seed]
                    if max(r["step"] for r in steps) >= 0.9 * target:
                        at.append(max((r for r in steps if r["step"] <= target), key=lambda r: r["step"]))
                # over the seeds that got that far, saying how many where some did not
                partial = f" ({len(at)}/{len(seeds)} seeds)" if 0 < len(at) < len(seeds) else ""
                cells.append(_cell(at) + partial if at else "-")
            flag = "" if all(r["finite"] for r in mine) else " (non-finite loss)"
            print(f"{recipe:24}{speed:6.2f}{len(seeds):6}" + "".join(f" {c:>62}" for c in cells) + flag)


def compare(args: argparse.Namespace) -> None:
    """Recipes side by side at equal iterations, seed by seed (by default the EMA's scores): one seed's runs share
    their initial weights and data order, so the pair's difference is less noisy than across seeds."""
    print(f"{args.setting}, {args.weights}; cells: content IoU / target-likeness / even fill / diversity")
    print(f"{'seed':>4}{'step':>6}" + "".join(f"{recipe:>40}" for recipe in args.recipes))
    for seed in args.seeds:
        runs = []
        for recipe in args.recipes:
            path = RUNS / f"{run_name(args.setting, recipe, seed)}.jsonl"
            records = read_records(path) if path.is_file() else []
            runs.append({r["step"]: r for r in records if r["weights"] == args.weights})
        for step in args.steps:
            cells = [_cell([run[step]]) if step in run else "-" for run in runs]
            print(f"{seed:>4}{step:>6}" + "".join(f"{c:>40}" for c in cells))


def _cell(records: list[dict]) -> str:
    def stat(key: str, fmt: str) -> str:
        values = [r.get(key) if key != "target_likeness" or r.get("rules") == RULES_VERSION else None
                  for r in records]
        if None in values:  # a record from before the score existed, or scored by other rules
            return "-"
        spread = (max(values) - min(values)) / 2
        return f"{statistics.fmean(values):{fmt}}" + (f"+-{spread:{fmt}}" if len(values) > 1 else "")
    return " / ".join(stat(key, fmt) for key, fmt in
                      (("content_kept", ".3f"), ("target_likeness", ".2f"), ("even_fill", ".2f"), ("diversity", ".3f")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run")
    p.add_argument("recipe", help="BASE+CHANGE+...; see BASES and CHANGES")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=8000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--emas", nargs="*", default=[], help="extra EMAs to score, e.g. 0.99 0.999-plain 0.9999-w3")
    p.add_argument("--setting", choices=list(SETTINGS), default="w32")
    p.add_argument("--continue", dest="resume", action="store_true",
                   help="go on from where the run of this recipe, seed and setting stopped")
    p.add_argument("--branch-from", metavar="RECIPE",
                   help="go on from where the run of RECIPE (same seed and setting) stopped, as this recipe")
    p = commands.add_parser("speed")
    p.add_argument("recipes", nargs="+")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--setting", choices=list(SETTINGS), default="w32")
    p = commands.add_parser("rescore")
    p.add_argument("runs", nargs="+", help="run names, e.g. w32-released-s1")
    p.add_argument("--threads", type=int, default=2)
    p = commands.add_parser("picture")
    p.add_argument("run", help="a run name, e.g. w32-default+gan-2x-s3")
    p.add_argument("--step", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p = commands.add_parser("errors")
    p.add_argument("run", help="a run name, e.g. w32-default+gan-2x-s3")
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--threads", type=int, default=2)
    p = commands.add_parser("compare")
    p.add_argument("recipes", nargs="+")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, nargs="+", default=[1000, 2000])
    p.add_argument("--setting", choices=list(SETTINGS), default="w32")
    p.add_argument("--weights", default="ema0.999")
    p = commands.add_parser("report")
    p.add_argument("--setting", choices=list(SETTINGS), default="w32")
    p.add_argument("--budgets", type=float, nargs="+", default=[5, 15, 30])
    p.add_argument("--weights", nargs="+", default=["raw", "ema0.999"])
    args = parser.parse_args()
    RUNS.mkdir(exist_ok=True)
    {"run": run, "speed": speed, "rescore": rescore, "report": report, "compare": compare,
     "picture": picture, "errors": errors}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
