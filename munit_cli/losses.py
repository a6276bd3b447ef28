"""MUNIT's objective (paper section 3.2, eq. 1-5) as pure functions returning named terms.

Generator terms, for images x_a, x_b and random styles s_a, s_b ~ N(0, I):

- ``recon_x``:  || G(E_c(x), E_s(x)) - x ||_1                     image reconstruction (eq. 1)
- ``recon_c``:  || E_c(G(c_a, s_b)) - c_a ||_1                    latent content reconstruction (eq. 2)
- ``recon_s``:  || E_s(G(c_a, s_b)) - s_b ||_1                    latent style reconstruction (eq. 2)
- ``cyc_x``:    || G_a(E_c(x_ab), E_s(x_a)) - x_a ||_1            explicit cycle (released option)
- ``adv``:      adversarial loss of the translations (eq. 3), summed over discriminator scales
- ``vgg``:      domain-invariant perceptual loss (section B.2), when a VGG network is passed
- ``content_adv``: the content codes against a content discriminator (DRIT's), when the model has one
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .config import LossWeights
from .errors import ConfigError

Augment = Callable[[torch.Tensor], torch.Tensor]  # what the discriminators' inputs go through (augment.py)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference, as a sum divided by the count: the same number, but the gradient
    keeps a's layout (a mean's backward writes a new NCHW tensor, one kernel more, whatever the
    layout of a, so an NHWC step would convert every gradient that flows through the loss)."""
    return (a - b).abs().sum() / a.numel()


# Least squares as F.mse_loss against a constant: one kernel forward and one backward, where
# ((out - 1) ** 2).mean() takes three and five (and the step is launch-bound on a GPU). The
# constant is float32, the precision autocast computes this loss in: no cast of it.


def _mse_to(out: torch.Tensor, value: float) -> torch.Tensor:
    dtype = torch.float32 if torch.is_autocast_enabled(out.device.type) else out.dtype
    return F.mse_loss(out, torch.full((), value, dtype=dtype, device=out.device).expand_as(out))


def _lsgan_gen(out: torch.Tensor) -> torch.Tensor:
    return _mse_to(out, 1.0)


def _lsgan_dis(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return _mse_to(fake, 0.0) + _mse_to(real, 1.0)


def _nsgan_gen(out: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.float(), torch.ones_like(out, dtype=torch.float32))


def _nsgan_dis(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    fake, real = fake.float(), real.float()
    return (F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            + F.binary_cross_entropy_with_logits(real, torch.ones_like(real)))


def _hinge_gen(out: torch.Tensor) -> torch.Tensor:
    return -out.mean()


def _hinge_dis(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return F.relu(1 + fake).mean() + F.relu(1 - real).mean()


def _lsgan_undecided(out: torch.Tensor) -> torch.Tensor:
    return _mse_to(out, 0.5)  # halfway between the targets of the two domains (1 and 0)


def _nsgan_undecided(out: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.float(), torch.full_like(out, 0.5, dtype=torch.float32))


def _hinge_undecided(out: torch.Tensor) -> torch.Tensor:
    return _mse_to(out, 0.0)  # halfway between the margins of the two domains (+1 and -1)


# What the content encoders aim at against the content discriminator: an output that names neither
# domain (DRIT's "confusion" target), rather than the other domain's label, which would only swap them.
UNDECIDED: dict[str, Callable] = {"lsgan": _lsgan_undecided, "nsgan": _nsgan_undecided, "hinge": _hinge_undecided}


GAN_LOSSES: dict[str, tuple[Callable, Callable]] = {
    "lsgan": (_lsgan_gen, _lsgan_dis),
    "nsgan": (_nsgan_gen, _nsgan_dis),
    "hinge": (_hinge_gen, _hinge_dis),
}


def _gan_pair(gan_type: str) -> tuple[Callable, Callable]:
    try:
        return GAN_LOSSES[gan_type]
    except KeyError:
        raise ConfigError(f"unknown gan_type {gan_type!r}; valid: {', '.join(GAN_LOSSES)}") from None


def adversarial_generator_loss(outputs: list[torch.Tensor], gan_type: str) -> torch.Tensor:
    """Generator side of the GAN loss, summed over the discriminator's scales."""
    gen_loss, _ = _gan_pair(gan_type)
    return functools.reduce(operator.add, (gen_loss(out) for out in outputs))  # sum(): one more add, to 0


def adversarial_discriminator_loss(fake: list[torch.Tensor], real: list[torch.Tensor],
                                   gan_type: str) -> torch.Tensor:
    """Discriminator side of the GAN loss, summed over scales."""
    _, dis_loss = _gan_pair(gan_type)
    return functools.reduce(operator.add, (dis_loss(f, r) for f, r in zip(fake, real)))


def translate_both(model, x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor):
    """Encode both domains and cross-decode: returns (c_a, s_a_prime, c_b, s_b_prime, x_ba, x_ab)."""
    c_a, s_a_prime = model.gen_a.encode(x_a)
    c_b, s_b_prime = model.gen_b.encode(x_b)
    x_ba = model.gen_a.decode(c_b, s_a)
    x_ab = model.gen_b.decode(c_a, s_b)
    return c_a, s_a_prime, c_b, s_b_prime, x_ba, x_ab


def decode_together(generator, *pairs: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
    """Decode several (content, style) batches with one generator in a single call.

    Every normalisation in the decoder is per sample, so this equals separate calls; one larger
    batch keeps the convolutions busier (about 10% faster per iteration on a CPU at batch 1).
    """
    contents, styles = zip(*pairs)
    out = generator.decode(torch.cat(contents), torch.cat(styles))
    return list(out.split([c.shape[0] for c in contents]))


def discriminate_together(dis, *images: torch.Tensor, augment: Augment | None = None) -> list[list[torch.Tensor]]:
    """Score several batches in one discriminator call; returns per batch the list of scale maps.

    Exact when the discriminator's normalisation is per sample (none, in, ln); with batch norm the
    batches are scored separately so their statistics do not mix. ``augment`` (per image) first.
    """
    augment = augment or _identity
    if any(isinstance(m, torch.nn.BatchNorm2d) for m in dis.modules()):
        return [dis(augment(x)) for x in images]
    sizes = [x.shape[0] for x in images]
    per_scale = [out.split(sizes) for out in dis(augment(torch.cat(images)))]
    return [list(maps) for maps in zip(*per_scale)]


def weighted_sum(losses: dict[str, torch.Tensor], weights: list[tuple[float, str]]) -> torch.Tensor:
    """sum of weight * (losses[name_a] + losses[name_b]); terms of weight 0 add no operators, and a
    weight of 1 no multiplication (each operator is a kernel launch on a GPU)."""
    total = None
    for weight, name in weights:
        if weight:
            pair = losses[f"{name}_a"] + losses[f"{name}_b"]
            term = pair if weight == 1 else weight * pair
            total = term if total is None else total + term
    return total if total is not None else next(iter(losses.values())).new_zeros(())


def generator_losses(model, x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor,
                     weights: LossWeights, vgg: Callable | None = None,
                     return_translations: bool = False, augment: Augment | None = None,
                     second_styles: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Every generator term and their weighted ``total``.

    ``s_a``/``s_b`` are the random target styles ([N, style_dim] or [N, style_dim, 1, 1]).
    With ``return_translations`` the dict also holds ``x_ab``/``x_ba`` (not losses) so the
    discriminator step can reuse them. ``augment`` is applied to what the discriminators see.
    ``second_styles`` (a second random style per image and domain) is needed when ``ds_w > 0``.
    """
    augment = augment or _identity
    w, gan_type = weights, model.config.gan_type
    s_a, s_b = s_a.flatten(1), s_b.flatten(1)
    # Encode; then each decoder reconstructs its own domain and translates the other in one batch
    # (with the diversity term, in a second style too).
    c_a, s_a_prime = model.gen_a.encode(x_a)
    c_b, s_b_prime = model.gen_b.encode(x_b)
    second_a, second_b = [], []  # (content, second style) pairs, with the diversity term only
    if w.ds_w > 0:
        if second_styles is None:
            raise ConfigError("ds_w > 0 needs second_styles: a second random style per image for each domain")
        s_a2, s_b2 = (s.flatten(1) for s in second_styles)
        second_a, second_b = [(c_b, s_a2)], [(c_a, s_b2)]
    x_a_recon, x_ba, *x_ba2 = decode_together(model.gen_a, (c_a, s_a_prime), (c_b, s_a), *second_a)
    x_b_recon, x_ab, *x_ab2 = decode_together(model.gen_b, (c_b, s_b_prime), (c_a, s_b), *second_b)
    # Encode the translations again.
    c_b_recon, s_a_recon = model.gen_a.encode(x_ba)
    c_a_recon, s_b_recon = model.gen_b.encode(x_ab)

    losses = {
        "adv_a": adversarial_generator_loss(model.dis_a(augment(x_ba)), gan_type),
        "adv_b": adversarial_generator_loss(model.dis_b(augment(x_ab)), gan_type),
        "recon_x_a": l1(x_a_recon, x_a),
        "recon_x_b": l1(x_b_recon, x_b),
        "recon_s_a": l1(s_a_recon, s_a),
        "recon_s_b": l1(s_b_recon, s_b),
        "recon_c_a": l1(c_a_recon, c_a),
        "recon_c_b": l1(c_b_recon, c_b),
    }
    zero = x_a.new_zeros(())
    if w.recon_x_cyc_w > 0:  # explicit cycle: decode the recovered content with the original style
        losses["cyc_x_a"] = l1(model.gen_a.decode(c_a_recon, s_a_prime), x_a)
        losses["cyc_x_b"] = l1(model.gen_b.decode(c_b_recon, s_b_prime), x_b)
    else:
        losses["cyc_x_a"] = losses["cyc_x_b"] = zero
    if w.vgg_w > 0:
        if vgg is None:
            raise ConfigError("vgg_w > 0 needs a perceptual network; build one with munit_cli.perceptual")
        losses["vgg_a"] = vgg(x_ba, x_b)
        losses["vgg_b"] = vgg(x_ab, x_a)
    else:
        losses["vgg_a"] = losses["vgg_b"] = zero
    if w.ds_w > 0:  # negative: the more two styles' translations of one content differ, the lower the loss
        losses["ds_a"] = -l1(x_ba, *x_ba2)
        losses["ds_b"] = -l1(x_ab, *x_ab2)
    content_weight = 0.0
    if model.dis_content is not None:  # each domain's codes where the content discriminator cannot place them
        undecided = UNDECIDED[gan_type]
        losses["content_adv_a"] = undecided(model.dis_content(c_a))
        losses["content_adv_b"] = undecided(model.dis_content(c_b))
        content_weight = w.content_gan_w

    losses["total"] = weighted_sum(losses, [
        (w.gan_w, "adv"), (w.recon_x_w, "recon_x"), (w.recon_s_w, "recon_s"), (w.recon_c_w, "recon_c"),
        (w.recon_x_cyc_w, "cyc_x"), (w.vgg_w, "vgg"), (w.ds_w, "ds"), (content_weight, "content_adv")])
    if return_translations:  # not losses: what the discriminator step reuses
        losses["x_ab"], losses["x_ba"] = x_ab, x_ba
        if model.dis_content is not None:
            losses["c_a"], losses["c_b"] = c_a, c_b
    return losses


def discriminator_losses_on(model, x_a: torch.Tensor, x_b: torch.Tensor, fake_a: torch.Tensor,
                            fake_b: torch.Tensor, weights: LossWeights, augment: Augment | None = None,
                            contents: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Discriminator terms for given (already computed) translations into a and into b; with a content
    discriminator, also for the content codes (c_a, c_b) of x_a and x_b."""
    gan_type = model.config.gan_type
    fake_a, fake_b = fake_a.detach(), fake_b.detach()
    fake_a_out, real_a_out = discriminate_together(model.dis_a, fake_a, x_a, augment=augment)
    fake_b_out, real_b_out = discriminate_together(model.dis_b, fake_b, x_b, augment=augment)
    losses = {
        "dis_a": adversarial_discriminator_loss(fake_a_out, real_a_out, gan_type),
        "dis_b": adversarial_discriminator_loss(fake_b_out, real_b_out, gan_type),
    }
    total = weighted_sum(losses, [(weights.gan_w, "dis")])
    if model.dis_content is not None:
        if contents is None:
            raise ConfigError("a model with a content discriminator needs the content codes for its step")
        c_a, c_b = (c.detach() for c in contents)
        out_a, out_b = model.dis_content(torch.cat([c_a, c_b])).split([c_a.shape[0], c_b.shape[0]])
        # Domain a's codes take the "real" label and b's the "fake": a domain classifier in GAN terms.
        losses["content_dis"] = adversarial_discriminator_loss([out_b], [out_a], gan_type)
        total = total + weights.content_gan_w * losses["content_dis"]
    losses["total"] = total
    return losses


def discriminator_losses(model, x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor,
                         s_b: torch.Tensor, weights: LossWeights) -> dict[str, torch.Tensor]:
    """The released discriminator step: translate with fresh styles, then score fakes and reals."""
    with torch.no_grad():
        c_a, _, c_b, _, x_ba, x_ab = translate_both(model, x_a, x_b, s_a.flatten(1), s_b.flatten(1))
    return discriminator_losses_on(model, x_a, x_b, x_ba, x_ab, weights, contents=(c_a, c_b))


def r1_penalty(dis, real: torch.Tensor, augment: Augment | None = None) -> torch.Tensor:
    """R1 regulariser (Mescheder et al. 2018): the squared norm of the discriminator's gradient at
    real images, per image, averaged over the batch; the scales' outputs are summed first. With
    ``augment``, at the images the discriminator is trained on (through the augmentation)."""
    real = real.detach().requires_grad_(True)
    outputs = sum(out.float().sum() for out in dis((augment or _identity)(real)))
    (grad,) = torch.autograd.grad(outputs, real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
