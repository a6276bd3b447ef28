"""Typed, frozen configuration: the model's shape, the loss weights and the training recipe.

Defaults are the released MUNIT recipe (SPEC.md, ``RELEASED``) with the changes that
benchmarks/quality.py measured as better (each commented where it is set). Every config round-trips
through JSON so it can travel inside a checkpoint's metadata, and ``validate`` names the bad field
and its valid values.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
PADDINGS = ("reflect", "replicate", "zero")
DIS_NORMS = ("none", "bn", "in", "ln", "sn")  # sn: spectral norm on every discriminator convolution
GAN_TYPES = ("lsgan", "nsgan", "hinge")
PRECISIONS = ("fp32", "bf16", "fp16")
DIS_AUGMENTATIONS = ("translation", "cutout", "colour")
TRAIN_PRECISIONS = ("auto", *PRECISIONS)  # auto: bf16 where the device computes it natively, else fp32


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}", name)


def _check_positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}", name)


@dataclass(frozen=True)
class ModelConfig:
    """The shape of both generators and both discriminators."""

    input_channels: int = 3       # image channels (3 for RGB)
    gen_dim: int = 64             # filters in the generator's first layer
    style_dim: int = 8            # length of a style code
    mlp_dim: int = 256            # hidden width of the MLP that maps a style to AdaIN parameters
    # Stride-2 convolutions in the content encoder (and upsamplings in the decoder). None (default):
    # by the training image size (``at_image_size``): once under 128 pixels, so that a small image
    # keeps a content code of half its side (sharper edges on benchmarks/quality.py at 64x64), twice
    # from 128 on, as released (a 64x64 code at 256).
    n_downsample: int | None = None
    n_res: int = 4                # residual blocks in the content encoder and in the decoder
    style_n_downsample: int = 4   # stride-2 convolutions in the style encoder (4 in the release)
    activation: str = "relu"      # generator activation
    padding: str = "reflect"      # padding of every generator and discriminator convolution
    dis_dim: int = 64             # filters in the discriminator's first layer
    dis_n_layer: int = 4          # stride-2 convolutions per discriminator scale
    dis_num_scales: int = 3       # image scales the discriminator looks at
    # Discriminator normalisation (released: none). "sn", spectral norm of every convolution's weight,
    # by default: the largest gain on benchmarks/quality.py (results_quality_cpu.txt).
    dis_norm: str = "sn"
    dis_activation: str = "lrelu" # discriminator activation
    gan_type: str = "lsgan"       # adversarial loss: lsgan, nsgan or hinge
    # A discriminator on the content codes (DRIT's; not in the release) that tells which domain a
    # code came from, while the content encoders learn to leave it guessing (``loss.content_gan_w``):
    # it asks the two domains' codes to agree directly, where otherwise only the translations'
    # realism does.
    content_dis: bool = False

    def validate(self) -> ModelConfig:
        _check_positive(self, "input_channels", "gen_dim", "style_dim", "mlp_dim", "n_res",
                        "style_n_downsample", "dis_dim", "dis_n_layer", "dis_num_scales")
        if self.n_downsample is not None:  # None: by the image size (at_image_size)
            _check_positive(self, "n_downsample")
        if self.style_n_downsample < 2:
            raise ConfigError(f"style_n_downsample must be at least 2; got {self.style_n_downsample}",
                              "style_n_downsample")
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("dis_activation", self.dis_activation, ACTIVATIONS)
        _check_choice("padding", self.padding, PADDINGS)
        _check_choice("dis_norm", self.dis_norm, DIS_NORMS)
        _check_choice("gan_type", self.gan_type, GAN_TYPES)
        if not isinstance(self.content_dis, bool):
            raise ConfigError(f"content_dis must be true or false; got {self.content_dis!r}", "content_dis")
        return self

    def at_image_size(self, image_size: int | None) -> ModelConfig:
        """This shape with ``n_downsample`` fixed where it is left to the image size: once for images
        under 128 pixels, twice from 128 on and where no size is given (the released shape)."""
        if self.n_downsample is not None:
            return self
        return dataclasses.replace(self, n_downsample=1 if image_size is not None and image_size < 128 else 2)

    @property
    def content_dim(self) -> int:
        """Channels of the content code."""
        return self.gen_dim * 2**self.n_downsample

    @property
    def n_adain_params(self) -> int:
        """Size of the MLP output: a (beta, gamma) pair per channel for each AdaIN layer."""
        return 2 * 2 * self.n_res * self.content_dim

    def min_generator_image_size(self) -> int:
        """Smallest image side the generators take: reflection padding of 1 needs inputs of at least
        2 pixels at the style encoder's last stride-2 convolution and in the content residual blocks."""
        return max(2**self.style_n_downsample, 2 ** (self.n_downsample + 1))

    def min_image_size(self) -> int:
        """Smallest training image side: the generators' limit, the discriminator's last layer at its
        coarsest scale, and the content discriminator's two stride-2 convolutions (a code of 4 pixels)."""
        content_dis = 4 * 2**self.n_downsample if self.content_dis else 0
        return max(self.min_generator_image_size(), 2 ** (self.dis_n_layer + self.dis_num_scales - 1), content_dis)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the objective's terms; names follow the released configs."""

    # Adversarial loss. 2 (released: 1): against the reconstruction and cycle losses at 10 each it
    # keeps more of each shape, more evenly filled (benchmarks/quality.py; docs/quality.md).
    gan_w: float = 2.0
    recon_x_w: float = 10.0     # image reconstruction within a domain
    recon_s_w: float = 1.0      # style reconstruction after translation
    recon_c_w: float = 1.0      # content reconstruction after translation
    # Explicit cycle consistency (released: 0; 10 in its summer2winter/cityscapes configs). 10 by
    # default: the largest gain in content kept on benchmarks/quality.py (results_quality_cpu.txt).
    recon_x_cyc_w: float = 10.0
    vgg_w: float = 0.0          # domain-invariant perceptual loss (VGG16 relu5_3)
    # Diversity-sensitive term (StarGAN v2's; not in the release): each content is decoded in a second
    # random style as well, and the mean pixel difference of the two translations is rewarded.
    ds_w: float = 0.0
    # The content encoders' adversarial term against the content discriminator (with
    # ``model.content_dis`` only): each domain's codes pushed to where it cannot tell them apart.
    content_gan_w: float = 1.0

    def validate(self) -> LossWeights:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"loss weight {f.name} must be a number >= 0; got {value!r}")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data folders."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    image_size: int = 256          # random crop side
    # Images per domain per step, per process (released: 1). 4 kept more content at equal CPU time
    # (benchmarks/quality.py: a step of 4 costs 1.6 to 2 times a step of 1 on a CPU).
    batch_size: int = 4
    iterations: int = 1_000_000
    seed: int = 0
    lr: float = 2e-4               # the generators' (released: 1e-4; twice that kept more content, quality.py)
    # The discriminators' (None: the same as lr). 4e-4, four times the generators' (two time-scale,
    # as imaginaire's MUNIT): with the cycle loss, more content kept on benchmarks/quality.py.
    lr_dis: float | None = 4e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-4
    lr_step: int = 100_000         # halve (lr_gamma) the learning rate every lr_step iterations
    lr_gamma: float = 0.5
    # Over this last share of the run's iterations the learning rates fall linearly to 0 (CycleGAN's
    # schedule, after the step schedule); 0: constant to the end, as released.
    lr_decay: float = 0.0
    ema_decay: float = 0.999       # EMA of the generators (warmed up, see train.ema_decay_at); 0: off
    r1_gamma: float = 0.0          # R1 penalty on the discriminators' gradients at real images; 0: off
    r1_every: int = 16             # apply R1 every this many steps (scaled to match, as StyleGAN2 does)
    # Augment every discriminator input, real and translated: "none", or some of DIS_AUGMENTATIONS
    # joined by "+" (munit_cli.augment); for small datasets, where a discriminator memorises.
    dis_augment: str = "none"
    precision: str = "auto"        # bf16 where native (1.6x the it/s of fp32 at 64x64 on a CPU), else fp32
    workers: int = 2
    checkpoint_every: int = 10_000
    keep_checkpoints: int = 0      # numbered checkpoints to keep (0 keeps all)
    sample_every: int = 1_000
    log_every: int = 10
    n_samples: int = 4             # held-out images per domain in the sample grid
    reuse_translations: bool = True  # D step reuses the G step's translations (detached)
    channels_last: bool = False
    compile: bool | None = None    # torch.compile the step; None: where it pays (CUDA, see compiling.py)

    @property
    def built_model(self) -> ModelConfig:
        """The model this run trains: ``model`` with what it leaves to the image size fixed."""
        return self.model.at_image_size(self.image_size)

    @property
    def lr_discriminators(self) -> float:
        """The discriminators' learning rate before its schedule: ``lr_dis``, or ``lr`` when left out."""
        return self.lr_dis or self.lr

    def validate(self) -> TrainConfig:
        self.model.validate()
        self.loss.validate()
        _check_positive(self, "image_size", "batch_size", "iterations", "lr_step", "r1_every",
                        "checkpoint_every", "sample_every", "log_every", "n_samples")
        _check_choice("precision", self.precision, TRAIN_PRECISIONS)
        if self.image_size % 4:
            raise ConfigError(f"image_size must be a multiple of 4; got {self.image_size}", "image_size")
        model = self.built_model
        if self.image_size % 2**model.n_downsample:
            raise ConfigError(f"image_size must be a multiple of {2**model.n_downsample} "
                              f"(2 ** n_downsample); got {self.image_size}", "image_size")
        smallest = model.min_image_size()
        if self.image_size < smallest:
            raise ConfigError(f"image_size {self.image_size} is too small for this model (the style "
                              f"encoder and discriminator downsample it to nothing); use at least {smallest}",
                              "image_size")
        if not 0.0 <= self.lr_decay <= 1.0:
            raise ConfigError(f"lr_decay must be in [0, 1] (the share of the run over which the learning "
                              f"rates fall to 0; 0 turns it off); got {self.lr_decay}", "lr_decay")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1); got {self.ema_decay}", "ema_decay")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0; got {self.lr}", "lr")
        if self.lr_dis is not None and not (isinstance(self.lr_dis, (int, float)) and self.lr_dis > 0):
            raise ConfigError(f"lr_dis must be > 0 (or left out: the same as lr); got {self.lr_dis!r}", "lr_dis")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma must be >= 0 (0 turns R1 off); got {self.r1_gamma}", "r1_gamma")
        if self.dis_augment != "none" and not all(a in DIS_AUGMENTATIONS for a in str(self.dis_augment).split("+")):
            raise ConfigError(f"dis_augment must be none or some of {', '.join(DIS_AUGMENTATIONS)} joined by +; "
                              f"got {self.dis_augment!r}", "dis_augment")
        if self.compile not in (None, True, False):
            raise ConfigError(f"compile must be true or false (or left out: on for CUDA); got {self.compile!r}",
                              "compile")
        for name in ("workers", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0; got {getattr(self, name)}", name)
        return self


# The released MUNIT recipe (SPEC.md), spelled out so that it stays whole whatever the defaults
# become: `munit train --recipe released` and the parity tests use it. Model sizes are the released
# ones too; a run may change them and keep the recipe.
RELEASED = TrainConfig(
    model=ModelConfig(n_downsample=2, gan_type="lsgan", dis_norm="none"),
    loss=LossWeights(gan_w=1.0, recon_x_w=10.0, recon_s_w=1.0, recon_c_w=1.0, recon_x_cyc_w=0.0, vgg_w=0.0),
    batch_size=1, lr=1e-4, lr_dis=None, beta1=0.5, beta2=0.999, weight_decay=1e-4, lr_step=100_000, lr_gamma=0.5,
    ema_decay=0.0, r1_gamma=0.0, precision="fp32", reuse_translations=False)

# What `munit train --recipe NAME` starts from, before --config and flags.
RECIPES = {"default": TrainConfig(), "released": RELEASED}


_NESTED = {"model": ModelConfig, "loss": LossWeights}


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build a dataclass from a dict, rejecting unknown keys with the list of valid ones."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{where}] must be a table of settings; got {values!r}" if where else
                          f"the config must be a table of settings; got {values!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        table = f" in [{where}]" if where else ""
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}{table}; valid keys: {', '.join(sorted(known))}")
    kwargs = dict(values)
    if cls is TrainConfig:
        for key, sub in _NESTED.items():
            if key in kwargs:
                kwargs[key] = _build(sub, kwargs[key], key)
    return cls(**kwargs)


def model_config_from_dict(values: dict[str, Any]) -> ModelConfig:
    return _build(ModelConfig, values, "model").validate()


def train_config_from_dict(values: dict[str, Any], validate: bool = True) -> TrainConfig:
    config = _build(TrainConfig, values, "")
    return config.validate() if validate else config


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_json(config: Any) -> str:
    return json.dumps(to_dict(config), sort_keys=True)


def replace(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that drops ``None`` values (unset command-line flags)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
