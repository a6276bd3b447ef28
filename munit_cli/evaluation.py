"""FID and LPIPS diversity by StarGAN v2's protocol, per translation direction.

For every held-out source image, ``n_styles`` translations: with random styles from the prior
(``mode="latent"``), or with the styles of randomly drawn held-out target images
(``mode="reference"``). FID compares all translations with the target domain's real images (its
training split, as StarGAN v2 does, or its held-out split); LPIPS diversity is the mean LPIPS
distance over all pairs of one input's translations, averaged over inputs. Every random draw comes
from one seeded generator per direction, so a seed gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .data import find_images, load_image, preprocess
from .errors import ConfigError, DataError
from .inference import encode_style, translate
from .layouts import Layout
from .metrics import FeatureNetworks
from .model import MUNIT
from .precision import model_dtype

MODES = ("latent", "reference")
FID_REFERENCES = ("train", "test")

# track(items, description, total) -> items, reporting progress as they are consumed.
Track = Callable[[Iterable, str, int], Iterable]


def _no_progress(items: Iterable, description: str, total: int) -> Iterable:
    return items


@dataclass(frozen=True)
class EvalSettings:
    n_styles: int = 10
    mode: str = "latent"
    fid_reference: str = "train"
    seed: int = 0
    batch_size: int = 16
    image_size: int = 256
    max_inputs: int | None = None  # the first N held-out images only (the small eval during training)

    def validate(self) -> EvalSettings:
        if self.n_styles < 2:
            raise ConfigError(f"--n-styles must be at least 2 (diversity compares pairs); got {self.n_styles}")
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.fid_reference not in FID_REFERENCES:
            raise ConfigError(f"--fid-reference must be one of {', '.join(FID_REFERENCES)}; got {self.fid_reference!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1; got {self.batch_size}")
        return self


@dataclass
class DirectionResult:
    source: str
    target: str
    fid: float
    lpips: float
    n_inputs: int
    n_outputs: int
    n_real: int
    skipped: list[str]  # unreadable images, left out

    def as_dict(self) -> dict:
        return asdict(self)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8, rounded as written PNGs are (``data.to_pil``)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def held_out(layout: Layout, name: str) -> list[Path]:
    folders = layout.domain(name)
    images = find_images(folders.held_out) if folders.held_out else []
    if folders.held_out is None:
        raise DataError(f"domain {name!r} has no held-out images ({layout.describe()}); evaluation needs at "
                        f"least 2: use ROOT/train/{name} + ROOT/test/{name} (or trainX + testX)")
    if len(images) < 2:
        raise DataError(f"domain {name!r} needs at least 2 held-out images to evaluate; found {len(images)} "
                        f"in {folders.held_out}")
    return images


def _batches(paths: Sequence[Path], size: int, batch_size: int, skipped: list[str]) -> Iterator[torch.Tensor]:
    """The images as [B, 3, size, size] batches in [-1, 1]; unreadable ones are listed in ``skipped``."""
    batch = []
    for path in paths:
        try:
            batch.append(preprocess(load_image(path), size))
        except DataError:
            skipped.append(str(path))
            continue
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@dataclass
class _Reference:
    fid: object  # torchmetrics' FrechetInceptionDistance, holding the real images' statistics
    n_real: int
    skipped: list[str]


class RealFeatures:
    """The real images' side of FID per target domain, computed once and kept across checkpoints."""

    def __init__(self, nets: FeatureNetworks, device: torch.device):
        self.nets, self.device = nets, device
        self._references: dict[tuple[str, str, int], _Reference] = {}

    def reference(self, layout: Layout, target: str, settings: EvalSettings, track: Track) -> _Reference:
        """FID's metric for ``target`` with the real side filled, the generated side empty."""
        from torchmetrics.image.fid import FrechetInceptionDistance

        key = (target, settings.fid_reference, settings.image_size)
        if key not in self._references:
            folders = layout.domain(target)
            paths = find_images(folders.train) if settings.fid_reference == "train" else held_out(layout, target)
            fid = FrechetInceptionDistance(feature=self.nets.inception, reset_real_features=False).to(self.device)
            skipped: list[str] = []
            batches = _batches(paths, settings.image_size, settings.batch_size, skipped)
            for x in track(batches, f"real {target} images", -(-len(paths) // settings.batch_size)):
                fid.update(to_uint8(x).to(self.device), real=True)
            if len(paths) - len(skipped) < 2:
                raise DataError(f"FID needs at least 2 real images of {target!r}; found {len(paths) - len(skipped)} "
                                f"readable ({settings.fid_reference} split)")
            self._references[key] = _Reference(fid, len(paths) - len(skipped), skipped)
        reference = self._references[key]
        reference.fid.reset()  # the generated side only (reset_real_features=False)
        return reference


@torch.no_grad()
def evaluate_direction(model: MUNIT, direction: str, layout: Layout, settings: EvalSettings,
                       nets: FeatureNetworks, reals: RealFeatures, track: Track = _no_progress) -> DirectionResult:
    source_name, target_name = model.domains_for(direction)
    source, target = model.generators_for(direction)
    device = next(model.parameters()).device
    inputs = held_out(layout, source_name)[:settings.max_inputs]
    reference = reals.reference(layout, target_name, settings, track)
    fid = reference.fid
    generator = torch.Generator().manual_seed(settings.seed)
    skipped: list[str] = []
    styles = _style_source(model, target, layout, target_name, settings, generator, device, skipped)

    diversities, n_outputs, done = [], 0, 0
    batches = _batches(inputs, settings.image_size, settings.batch_size, skipped)
    for x in track(batches, f"{source_name} -> {target_name}", -(-len(inputs) // settings.batch_size)):
        for image in x.to(device):
            outputs = translate(source, target, image[None], styles(done))[0].float().clamp(-1, 1)  # [N, 3, H, W]
            fid.update(to_uint8(outputs), real=False)
            diversities.append(mean_pairwise_lpips(nets.lpips, outputs, settings.batch_size))
            n_outputs += len(outputs)
            done += 1
    if done < 2:
        raise DataError(f"only {done} held-out image(s) of {source_name!r} could be read; at least 2 are needed")
    return DirectionResult(source_name, target_name, float(fid.compute()), float(torch.stack(diversities).mean()),
                           done, n_outputs, reference.n_real, sorted(set(skipped) | set(reference.skipped)))


def _style_source(model: MUNIT, target, layout: Layout, target_name: str, settings: EvalSettings,
                  generator: torch.Generator, device: torch.device, skipped: list[str]) -> Callable[[int], torch.Tensor]:
    """styles(i): the ``n_styles`` style codes for input i, [N, style_dim], drawn in input order."""
    n, dim = settings.n_styles, model.config.style_dim
    if settings.mode == "latent":
        return lambda i: torch.randn(n, dim, generator=generator).to(device)
    references = held_out(layout, target_name)
    codes = []
    for x in _batches(references, settings.image_size, settings.batch_size, skipped):
        codes.append(encode_style(target, x.to(device, model_dtype(target))))
    codes = torch.cat(codes)  # [R, style_dim]
    return lambda i: codes[torch.randint(len(codes), (n,), generator=generator).to(device)]


def mean_pairwise_lpips(lpips: torch.nn.Module, outputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean LPIPS over all pairs i < j of ``outputs`` [N, 3, H, W] in [-1, 1]."""
    i, j = torch.triu_indices(len(outputs), len(outputs), offset=1, device=outputs.device)
    distances = [lpips(outputs[i[k:k + batch_size]], outputs[j[k:k + batch_size]]).flatten()
                 for k in range(0, len(i), batch_size)]
    return torch.cat(distances).mean()
