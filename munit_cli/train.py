"""The training loop: one generator update and one discriminator update per iteration.

Presentation (progress bars, metric files, sample grids) hangs off callbacks; this module only
trains, checkpoints and resumes. Files written under ``out_dir``:

- ``checkpoints/step-XXXXXXXX.safetensors`` and ``checkpoints/latest.safetensors``: weights + config
  (``load_checkpoint`` reads them);
- ``checkpoints/resume.safetensors``: weights, EMA, optimiser moments, RNG states and counters,
  everything ``--resume`` needs, in one atomically written file (no pickle; see ``resume``).
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from . import augment, distributed
from .checkpoint import replace_with_copy, save_checkpoint
from .compiling import CompiledStep, wants_compile
from .config import TrainConfig, replace, to_dict
from .data import DomainDataset, EndlessShard, collate, find_images, held_out_batch
from .devices import choose_paths, select_device
from .errors import ConfigError, DataError, TrainingError
from .layouts import Layout, discover
from .losses import Augment, discriminator_losses_on, generator_losses, r1_penalty, translate_both
from .model import MUNIT
from .nonfinite import NonFiniteWatch
from .precision import DTYPES, WorkingCopies, autocast, resolve_precision, wants_working_copies
from .resume import RESUME_FILE, load_resume_state, save_resume_state
from .runs import LATEST_CHECKPOINT, RUN_FILE


def lr_at(step: int, config: TrainConfig, lr: float | None = None) -> float:
    """``lr`` (default: the generators') at ``step`` (counted from 0): the release's step schedule
    (times ``lr_gamma`` every ``lr_step`` iterations), then, over the last ``lr_decay`` share of the
    run, a linear fall to 0 (at the last step, 1/n of the rate for a decay over n steps)."""
    rate = (config.lr if lr is None else lr) * config.lr_gamma ** (step // config.lr_step)
    decay_steps = round(config.lr_decay * config.iterations)
    if decay_steps > 0:
        rate *= min(1.0, (config.iterations - step) / decay_steps)
    return rate


def ema_decay_at(step: int, decay: float, warmup: int = 10) -> float:
    """The EMA's decay at ``step`` (counted from 0): ``decay``, less while the average is young, so
    that early checkpoints are not dominated by the random initial weights: (1 + step) / (10 + step)
    is 0.1 at the first step, 0.9 at the 81st, and reaches 0.999 near step 9,000. A smaller
    ``warmup`` averages over more of the steps so far (2: their plain mean), a larger one fewer."""
    return min(decay, (1 + step) / (warmup + step))


# ---------------------------------------------------------------------------------------------
# Data.


@dataclass
class TrainData:
    """Both domains' datasets, their held-out sample batches, and loaders for one rank."""

    datasets: tuple[DomainDataset, DomainDataset]
    samples: tuple[torch.Tensor, torch.Tensor]
    layout: Layout
    domains: tuple[str, str]

    @classmethod
    def from_folder(cls, root: str | Path, source: str, target: str, config: TrainConfig,
                    skip: Collection[Path] = ()) -> TrainData:
        return cls.from_layout(discover(root), source, target, config, skip)

    @classmethod
    def from_layout(cls, layout: Layout, source: str, target: str, config: TrainConfig,
                    skip: Collection[Path] = ()) -> TrainData:
        """Both domains' training images as found in ``layout``, less those in ``skip``."""
        if source == target:
            raise ConfigError(f"--source and --target are both {source!r}; pick two different domains")
        images = {name: find_images(layout.domain(name).train) for name in (source, target)}
        return cls.from_images(layout, images, config, skip)

    @classmethod
    def from_images(cls, layout: Layout, images: dict[str, list[Path]], config: TrainConfig,
                    skip: Collection[Path] = ()) -> TrainData:
        """The two domains of ``images`` (source first: name -> its training images, as listed from
        ``layout``), less those in ``skip`` (found unreadable beforehand)."""
        source, target = images  # two different domains: a dict cannot hold one twice
        skip = set(skip)
        datasets, samples = [], []
        for name, found in images.items():
            paths = [p for p in found if p not in skip]
            if found and not paths:
                raise DataError(f"domain {name!r}: none of its {len(found)} images can be read")
            datasets.append(DomainDataset(paths, config.image_size, name))
            samples.append(held_out_batch(layout.domain(name), paths, config.n_samples, config.image_size))
        return cls((datasets[0], datasets[1]), (samples[0], samples[1]), layout, (source, target))

    def loaders(self, config: TrainConfig, ctx: distributed.DistContext, samples_seen: int,
                pin_memory: bool) -> list[DataLoader]:
        start = samples_seen // ctx.world_size  # this rank's position in its own stream
        loaders = []
        for salt, dataset in enumerate(self.datasets):
            stream = EndlessShard(len(dataset), config.seed, ctx.rank, ctx.world_size, start, salt)
            # An own generator: creating the iterator must not draw from the global RNG (resume equality).
            loaders.append(DataLoader(dataset, batch_size=config.batch_size, sampler=stream, collate_fn=collate,
                                      generator=torch.Generator().manual_seed(config.seed + salt),
                                      num_workers=config.workers, pin_memory=pin_memory,
                                      persistent_workers=config.workers > 0,
                                      prefetch_factor=4 if config.workers > 0 else None))
        return loaders


# ---------------------------------------------------------------------------------------------
# The two objectives as modules, so DistributedDataParallel can synchronise their gradients.


class GeneratorObjective(nn.Module):
    """Both generators' losses. The discriminators are used but not registered: DDP syncs generators only."""

    def __init__(self, model: MUNIT, config: TrainConfig, vgg: nn.Module | None, augment: Augment | None):
        super().__init__()
        self.gen_a, self.gen_b = model.gen_a, model.gen_b
        self._model, self._vgg = [model], [vgg]  # lists hide them from nn.Module registration
        self.weights = config.loss
        self.augment = augment

    def forward(self, x_a, x_b, s_a, s_b, *second_styles) -> dict[str, torch.Tensor]:
        return generator_losses(self._model[0], x_a, x_b, s_a, s_b, self.weights, self._vgg[0],
                                return_translations=True, augment=self.augment,
                                second_styles=tuple(second_styles) or None)


class DiscriminatorObjective(nn.Module):
    def __init__(self, model: MUNIT, config: TrainConfig, augment: Augment | None):
        super().__init__()
        self.dis_a, self.dis_b, self.dis_content = model.dis_a, model.dis_b, model.dis_content
        self._model = [model]
        self.weights = config.loss
        self.augment = augment

    def forward(self, x_a, x_b, fake_a, fake_b, *contents) -> dict[str, torch.Tensor]:
        return discriminator_losses_on(self._model[0], x_a, x_b, fake_a, fake_b, self.weights, self.augment,
                                       tuple(contents) or None)


# ---------------------------------------------------------------------------------------------
# Callbacks.


class Callback:
    """Hooks the loop calls on the main process. Override what you need.

    ``on_step`` runs at the steps that log, sample or checkpoint (and the last one), where the loop
    reads the losses from the device anyway; other steps queue their work and go on.
    """

    def on_start(self, trainer: Trainer) -> None: ...
    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None: ...
    def on_bad_image(self, trainer: Trainer, path: str) -> None: ...
    def on_compile_failure(self, trainer: Trainer, error: BaseException) -> None: ...
    def on_checkpoint(self, trainer: Trainer, path: Path) -> None: ...
    def on_end(self, trainer: Trainer, result: FitResult) -> None: ...


@dataclass
class FitResult:
    step: int
    checkpoint: Path | None
    reason: str  # "finished" or "interrupted"
    bad_images: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The trainer.


class Trainer:
    """Owns the model, optimisers, EMA and counters of one run; ``fit`` runs the loop.

    ``data`` may be None for callers that drive ``train_step`` themselves (benchmarks).
    """

    def __init__(self, config: TrainConfig, data: TrainData | None, out_dir: str | Path, domains: tuple[str, str],
                 device: str = "auto", callbacks: Sequence[Callback] = (), resume: bool = False,
                 vgg_factory: Callable[[], nn.Module] | None = None):
        # What the model leaves to the image size is fixed here, so that config.json (what --resume
        # rebuilds from) and the checkpoints say what was built.
        self.config = config = replace(config.validate(), model=config.built_model)
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.data = data
        self.device = select_device(device, distributed.local_rank())
        self.dist = distributed.setup(use_nccl=self.device.type == "cuda")
        self.callbacks = list(callbacks) if self.dist.is_main else []
        if self.dist.enabled and config.r1_gamma > 0:  # its step calls the discriminators outside DDP
            raise ConfigError("r1_gamma is not supported under torchrun yet (each process would penalise its "
                              "own discriminators' gradients without synchronising them); set r1_gamma = 0")
        self.step = 0
        self.samples_seen = 0
        self.bad_images: set[str] = set()
        self._stop_signal: int | None = None

        torch.manual_seed(config.seed)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        self.model = choose_paths(MUNIT(config.model, domains).to(self.device), self.device.type)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        vgg = None
        if config.loss.vgg_w > 0:
            from .perceptual import PerceptualLoss
            vgg = (vgg_factory or PerceptualLoss)().to(self.device)
        self.opt_gen = self._adam(list(self.model.gen_a.parameters()) + list(self.model.gen_b.parameters()))
        self.opt_dis = self._adam([p for dis in self.model.discriminator_modules() for p in dis.parameters()])
        self.ema = ({k: v.detach().clone() for k, v in self.generator_state().items()}
                    if config.ema_decay > 0 else None)
        self.nonfinite = NonFiniteWatch(self.device)
        # Low-precision copies of the weights for the step to compute with (see WorkingCopies).
        self.working = WorkingCopies(self.model, DTYPES[resolve_precision(config.precision, self.device)],
                                     enabled=wants_working_copies(self.device, self.dist.enabled))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        if resume:
            self.step, self.samples_seen = load_resume_state(
                self.ckpt_dir / RESUME_FILE, self.model, self.ema, self._optimizers(), self.scaler, self.device)
        elif self.dist.enabled:  # same initial weights everywhere (they already are, by seed; make sure)
            for p in self.model.state_dict().values():
                torch.distributed.broadcast(p, 0)

        # The EMA's sources alias the generators' tensors, which the optimiser updates in place.
        self._ema_targets = list(self.ema.values()) if self.ema is not None else []
        self._ema_sources = list(self.generator_state().values()) if self.ema is not None else []

        # What every discriminator input goes through (None: nothing), built once for both objectives and R1.
        self.augment = augment.policy(config.dis_augment)
        gen_objective = GeneratorObjective(self.model, config, vgg, self.augment)
        dis_objective = DiscriminatorObjective(self.model, config, self.augment)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            gen_objective = DistributedDataParallel(gen_objective, device_ids=ids, broadcast_buffers=False)
            dis_objective = DistributedDataParallel(dis_objective, device_ids=ids, broadcast_buffers=False)
        self.compiled = CompiledStep(self.device, wants_compile(config.compile, self.device, self.dist.enabled),
                                     on_failure=self._on_compile_failure, buffers=list(self.model.buffers()))
        self.gen_objective = self.compiled.objective(gen_objective)
        self.dis_objective = self.compiled.objective(dis_objective)

    def _on_compile_failure(self, error: BaseException) -> None:
        for cb in self.callbacks:
            cb.on_compile_failure(self, error)

    def _adam(self, params: list[nn.Parameter]) -> torch.optim.Adam:
        c = self.config
        # The fused kernel updates every parameter in one pass (CPU and CUDA); same maths as Adam.
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(params, lr=c.lr, betas=(c.beta1, c.beta2), weight_decay=c.weight_decay, fused=fused)

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_gen": self.opt_gen, "opt_dis": self.opt_dis}

    def ema_model(self) -> MUNIT:
        """The generators for evaluation, in eval mode: a new model with the EMA weights if any
        (else the current ones), without discriminators (evaluation never scores)."""
        model = MUNIT(self.model.config, self.model.domains, discriminators=False, init_weights=False)
        model.load_state_dict(self.ema if self.ema is not None else self.generator_state())
        return choose_paths(model.to(self.device), self.device.type).eval()

    def generator_state(self) -> dict[str, torch.Tensor]:
        """The generators' live weights by state-dict key (the model's own tensors): what the EMA follows."""
        return {k: v for k, v in self.model.state_dict().items() if k.startswith(("gen_a.", "gen_b."))}

    @contextlib.contextmanager
    def _autocast(self):
        """Where an objective runs: autocast to the precision, with the low-precision weight copies."""
        with autocast(self.device, self.config.precision), self.working.in_use():
            yield

    # -- one iteration -----------------------------------------------------------------------

    def train_step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """One iteration; returns the loss terms (``gen/*``, ``dis/*``) as 0-d tensors."""
        c, model = self.config, self.model
        self.compiled.begin()
        for opt, lr in ((self.opt_gen, c.lr), (self.opt_dis, c.lr_discriminators)):
            for group in opt.param_groups:
                group["lr"] = lr_at(self.step, c, lr)
        n, style_dim = x_a.shape[0], c.model.style_dim
        s_a = torch.randn(n, style_dim, device=self.device)
        s_b = torch.randn(n, style_dim, device=self.device)

        if not c.reuse_translations:
            # The released order: D first, on translations made for it alone (fresh styles).
            dis = self._update_discriminators(x_a, x_b, *self._translate_for_dis(x_a, x_b, s_a, s_b))
            s_a = torch.randn(n, style_dim, device=self.device)
            s_b = torch.randn(n, style_dim, device=self.device)

        # The diversity term decodes each content in a second style (drawn only then: a recipe without
        # it draws the same numbers as before it existed).
        second_styles = (torch.randn(n, style_dim, device=self.device),
                         torch.randn(n, style_dim, device=self.device)) if c.loss.ds_w > 0 else ()

        # Update G (both generators); the discriminators are frozen for this step.
        for dis_net in model.discriminator_modules():
            dis_net.requires_grad_(False)
        gen = self.compiled.run(self.gen_objective, (x_a, x_b, s_a, s_b, *second_styles), self._autocast,
                                self._backward(self.opt_gen))
        fake_a, fake_b = gen.pop("x_ba").detach(), gen.pop("x_ab").detach()
        # The content codes too, where a content discriminator is trained on them.
        contents = (gen.pop("c_a").detach(), gen.pop("c_b").detach()) if model.dis_content is not None else ()
        self.scaler.step(self.opt_gen)
        for dis_net in model.discriminator_modules():
            dis_net.requires_grad_(True)

        if c.reuse_translations:
            # Update D on the translations the G step already made (detached): no second decode.
            dis = self._update_discriminators(x_a, x_b, fake_a, fake_b, *contents)
        self.scaler.update()

        # Penalise D's gradients at real images, every r1_every steps (lazy regularisation).
        if c.r1_gamma > 0 and self.step % c.r1_every == 0:
            self._penalise_real_gradients(x_a, x_b)

        # Update EMA (every tensor in one call).
        if self.ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self._ema_targets, self._ema_sources, 1 - ema_decay_at(self.step, c.ema_decay))
        self.step += 1
        self.compiled.end()
        return self._keep_losses({**{f"gen/{k}": v for k, v in gen.items()}, **{f"dis/{k}": v for k, v in dis.items()}})

    def _keep_losses(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss terms as views of one stacked float32 copy, watched for NaN/inf on the device: the
        copy outlives the compiled objectives' next call (CUDA graphs overwrite their outputs)."""
        values = torch.stack([v.detach() for v in terms.values()]).float()
        self.nonfinite.observe(list(terms), values, self.step)  # on the device; read where the loop reads anyway
        return dict(zip(terms, values.unbind()))

    @torch.no_grad()
    def _translate_for_dis(self, x_a, x_b, s_a, s_b):
        """Translations for the discriminators (and the content codes, for a content discriminator)."""
        with self._autocast():
            c_a, _, c_b, _, x_ba, x_ab = translate_both(self.model, x_a, x_b, s_a, s_b)
        return (x_ba, x_ab, c_a, c_b) if self.model.dis_content is not None else (x_ba, x_ab)

    def _update_discriminators(self, x_a, x_b, fake_a, fake_b, *contents) -> dict[str, torch.Tensor]:
        dis = self.compiled.run(self.dis_objective, (x_a, x_b, fake_a, fake_b, *contents), self._autocast,
                                self._backward(self.opt_dis))
        self.scaler.step(self.opt_dis)
        return dis

    def _backward(self, optimizer: torch.optim.Optimizer) -> Callable[[dict[str, torch.Tensor]], None]:
        """The backward of an objective's ``total`` into ``optimizer``'s parameters, from cleared gradients."""
        def backward(losses: dict[str, torch.Tensor]) -> None:
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(losses["total"]).backward()
            self.working.gradients_to_masters()
        return backward

    def _penalise_real_gradients(self, x_a, x_b) -> None:
        """One discriminator step on the R1 penalty alone (Mescheder et al. 2018), in float32 and
        eager (it differentiates a gradient, which compiled graphs do not), scaled by r1_every so
        that the penalty's weight per step is r1_gamma whatever the interval."""
        c = self.config
        penalty = sum(r1_penalty(dis, x, self.augment)
                      for dis, x in ((self.model.dis_a, x_a), (self.model.dis_b, x_b)))
        self.opt_dis.zero_grad(set_to_none=True)
        (c.r1_gamma / 2 * c.r1_every * penalty).backward()
        self.opt_dis.step()

    def _raise_if_nonfinite(self) -> None:
        """Stop if any step so far had a non-finite loss; every process stops at the same step (one
        that stopped alone would leave the others waiting for its gradients)."""
        bad_here = self.nonfinite.any_bad()
        if not distributed.any_rank(bad_here, self.dist, self.device):
            return
        advice = (f"training stopped; the last good checkpoint in {self.ckpt_dir} is intact. Try a lower "
                  "lr, --precision fp32, or check the data")
        if bad_here:
            raise self.nonfinite.error(advice)
        raise TrainingError(f"non-finite loss in another process by step {self.step}; {advice}")

    # -- the loop ----------------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train until ``config.iterations``, a signal (SIGINT/SIGTERM), or an error."""
        c = self.config
        if self.data is None:
            raise ConfigError("Trainer.fit needs data; build the Trainer with a TrainData")
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(to_dict(c), indent=2) + "\n")
            run = {**self.data.layout.to_run(), "source": self.data.domains[0], "target": self.data.domains[1]}
            (self.out_dir / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
        loaders = self.data.loaders(c, self.dist, self.samples_seen, pin_memory=self.device.type == "cuda")
        batches = self._batches_on_device([iter(loader) for loader in loaders])
        for cb in self.callbacks:
            cb.on_start(self)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        checkpoint, reason = None, "finished"
        try:
            self.model.train()
            while self.step < c.iterations:
                losses = self.train_step(*next(batches))
                self.samples_seen += c.batch_size * self.dist.world_size
                reports = self._reports(self.step)
                if reports:  # read from the device only here, never in between
                    self._raise_if_nonfinite()
                    values = dict(zip(losses, torch.stack(list(losses.values())).float().tolist()))
                    for cb in self.callbacks:
                        cb.on_step(self, values)
                # A signal stops every process at the same step. Alone, a process reads its own flag
                # at once; with several, they agree (one all-reduce and read) at the reporting steps.
                stop = self._stop_signal is not None
                if self.dist.enabled:
                    stop = reports and distributed.any_rank(stop, self.dist, self.device)
                if stop:
                    reason = "interrupted"
                    break
                if self.step % c.checkpoint_every == 0 and self.step < c.iterations:
                    checkpoint = self.save()
            checkpoint = self.save()
        except BaseException:
            distributed.teardown(wait_for_others=False)
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        result = FitResult(self.step, checkpoint, reason, sorted(self.bad_images))
        for cb in self.callbacks:
            cb.on_end(self, result)
        distributed.teardown()
        return result

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: the user really wants out now
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _reports(self, step: int) -> bool:
        """Whether ``step`` logs, samples or checkpoints (or is the last): the steps that read the device."""
        c = self.config
        return (step % c.log_every == 0 or step % c.sample_every == 0 or step % c.checkpoint_every == 0
                or step == c.iterations)

    def _batches_on_device(self, streams: list) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x_a, x_b) on the device, each copied while the step before it runs: the loaders pin the
        batches on CUDA, so the copies are asynchronous and the next batch is there when it is needed."""
        def fetch():
            (x_a, bad_a), (x_b, bad_b) = next(streams[0]), next(streams[1])
            self._report_bad_images(bad_a + bad_b)
            return self._to_device(x_a), self._to_device(x_b)

        upcoming = fetch()
        while True:
            current, upcoming = upcoming, fetch()
            yield current

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def _report_bad_images(self, paths: list[str]) -> None:
        for path in paths:
            if path not in self.bad_images:
                self.bad_images.add(path)
                for cb in self.callbacks:
                    cb.on_bad_image(self, path)

    # -- checkpoints -------------------------------------------------------------------------

    def save(self) -> Path | None:
        """Write the step checkpoint, ``latest`` and the resume state (main process only), after
        making sure no step so far was non-finite: no checkpoint ever holds NaN weights."""
        self._raise_if_nonfinite()
        if not self.dist.is_main:
            return None
        c = self.config
        step_path = self.ckpt_dir / f"step-{self.step:08d}.safetensors"
        save_checkpoint(self.model, step_path, ema=self.ema, step=self.step, image_size=str(c.image_size),
                        train_config=json.dumps(to_dict(c)))
        replace_with_copy(step_path, self.ckpt_dir / LATEST_CHECKPOINT)
        save_resume_state(self.ckpt_dir / RESUME_FILE, self.model, self.ema, self._optimizers(), self.scaler,
                          step=self.step, samples_seen=self.samples_seen, config=c, device=self.device)
        self._prune_checkpoints()
        for cb in self.callbacks:
            cb.on_checkpoint(self, self.ckpt_dir / LATEST_CHECKPOINT)
        return self.ckpt_dir / LATEST_CHECKPOINT

    def _prune_checkpoints(self) -> None:
        keep = self.config.keep_checkpoints
        if keep:
            for old in sorted(self.ckpt_dir.glob("step-*.safetensors"))[:-keep]:
                old.unlink(missing_ok=True)
