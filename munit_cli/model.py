"""MUNIT: two generators, two discriminators, the config that built them and the domain names."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .config import ModelConfig
from .errors import ConfigError
from .networks import ContentDiscriminator, Generator, MultiScaleDiscriminator
from .spectral import spectral_norm


def _init_weights(module: nn.Module, init: str) -> None:
    """The released initialisation: conv and linear weights only, biases zero."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # A spectral-normed weight (dis_norm "sn") is computed from its parametrization: draw the
            # weight itself, then estimate its norm afresh from the new one.
            spectral = parametrize.is_parametrized(m, "weight")
            if spectral:
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
            if init == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:  # "gaussian"
                nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
            if spectral:
                spectral_norm(m)


class MUNIT(nn.Module):
    """The full model. ``gen_a`` translates *into* domain a (it decodes a's styles), ``gen_b`` into b.

    Args:
        config: the shape of the networks.
        domains: names of domain a and domain b (e.g. ``("dog", "cat")``).
        discriminators: build ``dis_a``/``dis_b`` (and ``dis_content``, with ``config.content_dis``);
            inference bundles leave them out.
        init_weights: draw the released initialisation; False where weights are loaded right after
            (``load_checkpoint``), which saves a quarter of a second per default model.
    """

    def __init__(self, config: ModelConfig | None = None, domains: tuple[str, str] = ("a", "b"),
                 discriminators: bool = True, init_weights: bool = True):
        super().__init__()
        self.config = (config or ModelConfig()).at_image_size(None).validate()  # no size: the released shape
        if len(domains) != 2 or domains[0] == domains[1] or not all(domains):
            raise ConfigError(f"need two different, non-empty domain names; got {domains!r}")
        self.domains = (str(domains[0]), str(domains[1]))
        # (The order of construction and initialisation fixes what a seed draws: keep it.)
        self.gen_a = Generator(self.config)
        self.gen_b = Generator(self.config)
        if init_weights:
            _init_weights(self.gen_a, "kaiming")
            _init_weights(self.gen_b, "kaiming")
        self.dis_a: MultiScaleDiscriminator | None = None
        self.dis_b: MultiScaleDiscriminator | None = None
        self.dis_content: ContentDiscriminator | None = None
        if discriminators:
            self.dis_a = MultiScaleDiscriminator(self.config)
            self.dis_b = MultiScaleDiscriminator(self.config)
            if init_weights:
                _init_weights(self.dis_a, "gaussian")
                _init_weights(self.dis_b, "gaussian")
            if self.config.content_dis:  # built last: a model without it draws what it drew before
                self.dis_content = ContentDiscriminator(self.config)
                if init_weights:
                    _init_weights(self.dis_content, "gaussian")

    @property
    def has_discriminators(self) -> bool:
        return self.dis_a is not None

    def discriminator_modules(self) -> list[nn.Module]:
        """Every discriminator the model has: the two image ones, and the content one if built."""
        return [d for d in (self.dis_a, self.dis_b, self.dis_content) if d is not None]

    def is_forward(self, direction: str) -> bool:
        """True for a -> b (``"dog2cat"``, ``"A2B"``, ``"a2b"``), False for b -> a; ConfigError otherwise."""
        a, b = self.domains
        if direction in {f"{a}2{b}", "A2B", "a2b"}:
            return True
        if direction in {f"{b}2{a}", "B2A", "b2a"}:
            return False
        raise ConfigError(f"unknown direction {direction!r}; this model translates "
                          f"{a}2{b} (A2B) or {b}2{a} (B2A)")

    def generators_for(self, direction: str) -> tuple[Generator, Generator]:
        """(source generator, target generator) for a direction.

        The content comes from the source domain's encoder, the style and decoder from the target's.
        """
        return (self.gen_a, self.gen_b) if self.is_forward(direction) else (self.gen_b, self.gen_a)

    def domains_for(self, direction: str) -> tuple[str, str]:
        """(source name, target name) for a direction."""
        a, b = self.domains
        return (a, b) if self.is_forward(direction) else (b, a)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, style: torch.Tensor, direction: str = "A2B") -> torch.Tensor:
        """Translate images x with the given target-domain style codes (one per image)."""
        source, target = self.generators_for(direction)
        content = source.enc_content(x)
        return target.decode(content, style)
