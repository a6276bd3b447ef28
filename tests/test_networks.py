"""The model core: shapes, gradients, parameter counts, config validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from munit_cli import MUNIT, ConfigError, LossWeights, ModelConfig, TrainConfig
from munit_cli.checkpoint import parameter_counts
from munit_cli.config import RELEASED, model_config_from_dict, replace, train_config_from_dict
from munit_cli.layers import AdaptiveInstanceNorm, InstanceNorm, LayerNorm, group_moments
from munit_cli.losses import discriminator_losses, generator_losses

from .conftest import TINY_MODEL


@pytest.mark.parametrize("size,batch", [(32, 1), (32, 3), (48, 2), (64, 1)])
def test_shapes(size, batch):
    model = MUNIT(TINY_MODEL)
    x = torch.rand(batch, 3, size, size) * 2 - 1
    content, style = model.gen_a.encode(x)
    factor = 2**model.config.n_downsample  # TINY_MODEL leaves it to the image size: built without one, 2
    assert content.shape == (batch, model.config.content_dim, size // factor, size // factor)
    assert style.shape == (batch, TINY_MODEL.style_dim)
    out = model.gen_b.decode(content, style)
    assert out.shape == x.shape and out.abs().max() <= 1
    # A style shaped [N, style_dim, 1, 1] (the released layout) decodes the same.
    torch.testing.assert_close(model.gen_b.decode(content, style[:, :, None, None]), out)
    maps = model.dis_a(x)
    assert len(maps) == TINY_MODEL.dis_num_scales
    first = size // 2**TINY_MODEL.dis_n_layer
    assert [m.shape[-1] for m in maps] == [first // 2**i for i in range(len(maps))]


def test_default_shapes_match_spec():
    model = MUNIT(ModelConfig())
    x = torch.zeros(1, 3, 256, 256)
    with torch.no_grad():
        assert model.gen_a.enc_content(x).shape == (1, 256, 64, 64)
        assert [m.shape[-1] for m in model.dis_a(x)] == [16, 8, 4]


def test_default_parameter_counts_match_spec():
    counts = parameter_counts(MUNIT(ModelConfig()))
    assert counts["gen_a"] == counts["gen_b"] == 15_026_187
    assert counts["dis_a"] == counts["dis_b"] == 8_271_171
    assert (counts["gen_a.enc_style"], counts["gen_a.enc_content"], counts["gen_a.dec"], counts["gen_a.mlp"]) == (
        2_764_936, 5_385_856, 5_754_627, 1_120_768)
    assert MUNIT(ModelConfig()).config.n_adain_params == 4096


@pytest.mark.parametrize("gan_type", ["lsgan", "nsgan", "hinge"])
def test_every_parameter_gets_a_gradient(gan_type):
    model = MUNIT(ModelConfig(**{**TINY_MODEL.__dict__, "gan_type": gan_type}))
    x_a, x_b = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    s_a, s_b = torch.randn(2, 2, TINY_MODEL.style_dim)
    weights = LossWeights(recon_x_cyc_w=10)
    gen = generator_losses(model, x_a, x_b, s_a, s_b, weights)
    gen["total"].backward()
    for name, p in [*model.gen_a.named_parameters(), *model.gen_b.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for generator parameter {name}"
    model.zero_grad()
    dis = discriminator_losses(model, x_a, x_b, s_a, s_b, weights)
    dis["total"].backward()
    for name, p in [*model.dis_a.named_parameters(), *model.dis_b.named_parameters()]:
        assert p.grad is not None, f"no gradient for discriminator parameter {name}"
        # Hinge at initialisation: every real and fake score is in the linear region, so the last
        # bias gets +1/n from the fakes and -1/n from the reals: exactly zero, legitimately.
        if not (gan_type == "hinge" and name.endswith(f"{TINY_MODEL.dis_n_layer}.bias")):
            assert p.grad.abs().sum() > 0, f"zero gradient for discriminator parameter {name}"
    assert all(torch.isfinite(v) for v in gen.values())


def test_spectral_norm_holds_every_discriminator_convolution_at_norm_one():
    """dis_norm "sn": the released Gaussian initialisation is drawn into the weights themselves, and
    in training every convolution's weight (as a matrix) has largest singular value 1."""
    torch.manual_seed(0)
    model = MUNIT(replace(TINY_MODEL, dis_norm="sn"))
    convs = [m for m in model.dis_a.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == TINY_MODEL.dis_num_scales * (TINY_MODEL.dis_n_layer + 1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for _ in range(100):  # one power iteration per forward: the estimate converges
        model.dis_a(x)
    for conv in convs:
        drawn = conv.parametrizations.weight.original
        assert drawn.std().item() == pytest.approx(0.02, rel=0.3)  # N(0, 0.02), not PyTorch's default
        # The estimate converges from below, slowly where the top two singular values are close
        # (2.4% off at initialisation here, 0.1% after 50 iterations); 0.5% after 100 is ample.
        assert torch.linalg.matrix_norm(conv.weight.flatten(1), 2).item() == pytest.approx(1.0, rel=0.005)


def test_loss_keys():
    model = MUNIT(TINY_MODEL)
    x = torch.rand(1, 3, 32, 32)
    s = torch.randn(1, TINY_MODEL.style_dim)
    gen = generator_losses(model, x, x, s, s, LossWeights())
    assert {"adv_a", "adv_b", "recon_x_a", "recon_x_b", "recon_s_a", "recon_s_b", "recon_c_a", "recon_c_b",
            "cyc_x_a", "cyc_x_b", "total"} <= set(gen)
    assert set(discriminator_losses(model, x, x, s, s, LossWeights())) == {"dis_a", "dis_b", "total"}


def test_diversity_term_rewards_different_translations():
    """ds_w > 0: each content is decoded in a second style too, and the term is minus the mean
    absolute difference of the two translations; its gradient moves them apart."""
    model = MUNIT(TINY_MODEL)
    x_a, x_b = torch.rand(2, 2, 3, 32, 32)
    s_a, s_b, s_a2, s_b2 = torch.randn(4, 2, TINY_MODEL.style_dim)
    weights = LossWeights(ds_w=1.0)
    gen = generator_losses(model, x_a, x_b, s_a, s_b, weights, second_styles=(s_a2, s_b2))
    c_b, _ = model.gen_b.encode(x_b)
    expected = -(model.gen_a.decode(c_b, s_a) - model.gen_a.decode(c_b, s_a2)).abs().mean()
    torch.testing.assert_close(gen["ds_a"], expected)
    without = generator_losses(model, x_a, x_b, s_a, s_b, LossWeights())
    # The other terms are the same up to float32 rounding: with the second style each decoder runs one
    # batch of 3N rather than 2N, whose convolutions may sum in another order (6e-6 relative seen).
    torch.testing.assert_close(gen["total"], without["total"] + gen["ds_a"] + gen["ds_b"], rtol=1e-4, atol=0)
    assert "ds_a" not in without  # the default recipe has no such term (and decodes nothing more)
    # One gradient step on the term alone separates the two styles' translations.
    decoder = [p for p in model.gen_a.dec.parameters() if p.requires_grad]
    grads = torch.autograd.grad(gen["ds_a"], decoder)
    with torch.no_grad():
        for p, g in zip(decoder, grads):
            p -= 0.5 * g
    assert -generator_losses(model, x_a, x_b, s_a, s_b, weights, second_styles=(s_a2, s_b2))["ds_a"] > -expected
    with pytest.raises(ConfigError, match="second_styles"):
        generator_losses(model, x_a, x_b, s_a, s_b, weights)


@pytest.mark.parametrize("gan_type", ["lsgan", "nsgan", "hinge"])
def test_content_discriminator_tells_the_domains_codes_apart_and_the_encoders_answer(gan_type):
    """model.content_dis: the discriminator step scores domain a's content codes as real and b's as
    fake; the generator step's term pushes both domains' codes to its undecided output, and reaches
    the content encoders only (never the discriminator, nor the styles or decoders)."""
    # No spectral norm here: its power iteration would move the weights between the calls compared.
    config = replace(TINY_MODEL, content_dis=True, gan_type=gan_type, dis_norm="none")
    torch.manual_seed(0)
    model = MUNIT(config)
    x_a, x_b = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    s_a, s_b = torch.randn(2, 2, config.style_dim)
    with torch.no_grad():
        c_a, c_b = model.gen_a.enc_content(x_a), model.gen_b.enc_content(x_b)
    weights = LossWeights(content_gan_w=3.0)
    dis = discriminator_losses(model, x_a, x_b, s_a, s_b, weights)
    out_a, out_b = model.dis_content(c_a), model.dis_content(c_b)
    expected = {"lsgan": (out_b**2).mean() + ((out_a - 1) ** 2).mean(),
                "nsgan": F.softplus(out_b).mean() + F.softplus(-out_a).mean(),
                "hinge": F.relu(1 + out_b).mean() + F.relu(1 - out_a).mean()}[gan_type]
    torch.testing.assert_close(dis["content_dis"], expected)
    torch.testing.assert_close(dis["total"], 2 * (dis["dis_a"] + dis["dis_b"]) + 3 * dis["content_dis"])
    undecided = {"lsgan": lambda o: ((o - 0.5) ** 2).mean(),
                 "nsgan": lambda o: F.binary_cross_entropy_with_logits(o, torch.full_like(o, 0.5)),
                 "hinge": lambda o: (o**2).mean()}[gan_type]
    gen = generator_losses(model, x_a, x_b, s_a, s_b, weights)
    torch.testing.assert_close(gen["content_adv_a"], undecided(out_a))
    torch.testing.assert_close(gen["content_adv_b"], undecided(out_b))
    without = generator_losses(model, x_a, x_b, s_a, s_b, replace(weights, content_gan_w=0.0))
    torch.testing.assert_close(gen["total"], without["total"] + 3 * (gen["content_adv_a"] + gen["content_adv_b"]))
    term = gen["content_adv_a"] + gen["content_adv_b"]
    params = dict(model.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(term, list(params.values()), allow_unused=True)))
    reached = {name.split(".")[0] + "." + name.split(".")[1] for name, g in grads.items()
               if g is not None and g.abs().sum() > 0}
    assert {"gen_a.enc_content", "gen_b.enc_content"} <= reached
    assert not reached - {"gen_a.enc_content", "gen_b.enc_content", "dis_content.model"}
    # A model without one has neither term, nor the network.
    plain = MUNIT(TINY_MODEL)
    assert plain.dis_content is None and "content_adv_a" not in generator_losses(plain, x_a, x_b, s_a, s_b, weights)


def test_decode_has_no_hidden_state():
    """Decoding with one style must not change what a later decode with another style gives."""
    model = MUNIT(TINY_MODEL).eval()
    x = torch.rand(2, 3, 32, 32)
    content, _ = model.gen_a.encode(x)
    s1, s2 = torch.randn(2, 2, TINY_MODEL.style_dim)
    with torch.no_grad():
        first = model.gen_a.decode(content, s1)
        model.gen_a.decode(content, s2)
        again = model.gen_a.decode(content, s1)
        both = model.gen_a.decode(torch.cat([content, content]), torch.cat([s1, s2]))
    assert torch.equal(first, again)
    torch.testing.assert_close(both[:2], first)


@pytest.mark.parametrize("few_kernels", [False, True])
def test_layer_norm_matches_its_definition(few_kernels):
    """In float64 on a small spread (std 0.01), where eps (1e-5) added to the std rather than the
    variance changes the result by ~1e-3: the definition's details are visible."""
    ln = LayerNorm(4).double()
    ln.few_kernels = few_kernels
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64) * 0.01
    flat = x.flatten(1)
    want = (x - flat.mean(1).view(-1, 1, 1, 1)) / (flat.std(1, unbiased=True).view(-1, 1, 1, 1) + 1e-5)
    want = want * ln.gamma.view(1, -1, 1, 1) + ln.beta.view(1, -1, 1, 1)
    # The CPU path's statistics are float32 by design: relative error ~1e-7.
    torch.testing.assert_close(ln(x), want, atol=1e-6, rtol=1e-5 if not few_kernels else 1e-12)


def test_adain_matches_its_definition_and_norm_paths_agree():
    """AdaIN is instance norm then the style's affine. Each norm has a fused statistics path (no
    autograd) and a differentiable one: both give the same result, to float32 rounding."""
    torch.manual_seed(0)
    adain, ln = AdaptiveInstanceNorm(4), LayerNorm(4)
    x = torch.randn(3, 4, 6, 5) * 3 + 1
    beta, gamma = torch.randn(3, 4), torch.randn(3, 4)
    want = F.instance_norm(x, eps=1e-5) * gamma[:, :, None, None] + beta[:, :, None, None]
    with torch.no_grad():
        fused = adain(x, beta, gamma), ln(x)
    differentiable = adain(x.requires_grad_(), beta, gamma), ln(x)
    adain.few_kernels = ln.few_kernels = True  # the CUDA path (devices.choose_paths)
    few_kernels = adain(x, beta, gamma), ln(x)
    torch.testing.assert_close(fused[0], want)
    for a, b, c in zip(fused, differentiable, few_kernels):
        torch.testing.assert_close(a, b.detach())
        torch.testing.assert_close(a, c.detach())
    # A content of batch 1 is shared by all the styles.
    with torch.no_grad():
        torch.testing.assert_close(adain(x[:1], beta, gamma), adain(x[:1].expand(3, -1, -1, -1), beta, gamma))


@pytest.mark.parametrize("batch", [1, 3])
def test_norms_on_nhwc_inputs_keep_the_layout_and_match_nchw(batch):
    """The CUDA paths' norms normalise an NHWC (channels_last) input without converting it: output and
    input gradient stay NHWC, and values and gradients (input, gamma, beta, affine) match the NCHW
    computation. In float64, so only the arithmetic's order differs."""
    torch.manual_seed(0)
    norms = [InstanceNorm(4), AdaptiveInstanceNorm(4), LayerNorm(4)]
    for norm in norms:
        norm.few_kernels = True  # the CUDA path (devices.choose_paths)
    norms[2].double()
    x = torch.randn(batch, 4, 6, 5, dtype=torch.float64) * 3 + 1
    beta, gamma = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    for norm in norms:
        results = []
        for layout in (torch.contiguous_format, torch.channels_last):
            inputs = [x.clone(memory_format=layout).requires_grad_(), beta.clone().requires_grad_(),
                      gamma.clone().requires_grad_()]
            out = norm(*inputs) if isinstance(norm, AdaptiveInstanceNorm) else norm(inputs[0])
            grad = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
            norm.zero_grad()
            out.backward(grad.contiguous(memory_format=layout))
            results.append((out, *(t.grad for t in inputs), *(p.grad for p in norm.parameters())))
        nchw, nhwc = results
        assert nhwc[0].is_contiguous(memory_format=torch.channels_last)
        assert nhwc[1].is_contiguous(memory_format=torch.channels_last)
        for a, b in zip(nchw, nhwc):
            if a is not None:
                torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_nhwc_norms_in_bfloat16_stay_accurate_when_a_channel_mean_is_large():
    """bfloat16 NHWC input: the statistics and the multiply-add run in float32, so a channel whose
    mean is 100 times its spread still normalises to within bfloat16's rounding of the output."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8) + 100 * torch.tensor([0.0, 1.0, -1.0, 0.5])[:, None, None]
    adain = AdaptiveInstanceNorm(4)
    adain.few_kernels = True
    beta, gamma = torch.randn(2, 4), torch.randn(2, 4)
    got = adain(x.bfloat16().contiguous(memory_format=torch.channels_last), beta, gamma)
    assert got.dtype == torch.bfloat16
    # One bfloat16 rounding of the input (2^-9 of 100 is 0.2, a fifth of the spread) bounds the error.
    want_from_rounded = adain(x.bfloat16().double(), beta.double(), gamma.double())
    torch.testing.assert_close(got.double(), want_from_rounded, atol=0.02, rtol=0.01)


@pytest.mark.parametrize("groups", [1, 64])
def test_norm_statistics_stay_accurate_over_millions_of_values(groups):
    """Both statistics paths, on a LayerNorm-sized group of 4M values: float32 sums done right stay
    within 1e-6 of float64 (a single running sum drifts by ~1e-4 at this size)."""
    torch.manual_seed(0)
    x = torch.randn(1, 64, 256, 256) * 2 + 0.5
    want = x.double().reshape(1, groups, -1).var(2, unbiased=False)
    with torch.no_grad():
        _, fused = group_moments(x, groups)
    _, differentiable = group_moments(x.requires_grad_(), groups)
    for var in (fused, differentiable):
        assert ((var.double() - want) / want).abs().max() < 1e-6


def test_config_validation_names_field_and_choices():
    with pytest.raises(ConfigError, match="padding must be one of reflect, replicate, zero"):
        ModelConfig(padding="mirror").validate()
    with pytest.raises(ConfigError, match="gen_dim must be a positive integer"):
        ModelConfig(gen_dim=0).validate()
    with pytest.raises(ConfigError, match="unknown key.*dimm.*valid keys"):
        model_config_from_dict({"dimm": 3})
    with pytest.raises(ConfigError, match="multiple of 4"):
        TrainConfig(image_size=30).validate()
    with pytest.raises(ConfigError, match="too small"):
        TrainConfig(image_size=16).validate()
    with pytest.raises(ConfigError, match="unknown key.*bogus"):
        train_config_from_dict({"loss": {"bogus": 1}})
    with pytest.raises(ConfigError, match="content_dis must be true or false"):
        ModelConfig(content_dis="yes").validate()
    # The content discriminator's two stride-2 convolutions need a code of 4 pixels: 16 at n_downsample 2.
    small = dict(image_size=12, model=replace(TINY_MODEL, n_downsample=2, dis_n_layer=2, dis_num_scales=1,
                                              style_n_downsample=2))
    TrainConfig(**small).validate()
    with pytest.raises(ConfigError, match="use at least 16"):
        TrainConfig(**{**small, "model": replace(small["model"], content_dis=True)}).validate()


def test_downsampling_follows_the_image_size_unless_set():
    # Left to the image size: once under 128 pixels (a code of half the image's side), twice from 128
    # on, as released; a model built without a size has the released shape; a set value stays.
    assert [TrainConfig(image_size=s).built_model.n_downsample for s in (32, 64, 124, 128, 256)] == [1, 1, 1, 2, 2]
    assert MUNIT(ModelConfig(gen_dim=4, mlp_dim=8, n_res=1), discriminators=False).config.n_downsample == 2
    assert TrainConfig(image_size=64, model=replace(TINY_MODEL, n_downsample=2)).built_model.n_downsample == 2
    assert replace(RELEASED, image_size=64).built_model.n_downsample == 2
    with pytest.raises(ConfigError, match=r"multiple of 8 \(2 \*\* n_downsample\)"):
        TrainConfig(image_size=132, model=replace(TINY_MODEL, n_downsample=3)).validate()
    with pytest.raises(ConfigError, match="n_downsample must be a positive integer"):
        ModelConfig(n_downsample=0).validate()


def test_config_json_round_trip():
    from munit_cli.config import to_dict
    config = TrainConfig(model=TINY_MODEL, loss=LossWeights(vgg_w=1), ema_decay=0.999)
    assert train_config_from_dict(to_dict(config)) == config


@pytest.mark.parametrize("padding", ["reflect", "zero", "replicate"])
def test_fast_decoder_convolutions_equal_the_released_computation(padding):
    """The decoder's fast paths (upsample+conv at the low resolution, the last conv on 2x2 blocks)
    give the released outputs and gradients.

    In float64, so that only a wrong term can differ: the sums run in another order, which in float32
    already moves weight gradients of size ~1e3 by ~5e-4; in float64 the same reordering stays near 1e-12.
    """
    torch.manual_seed(0)
    gen = MUNIT(ModelConfig(**{**TINY_MODEL.__dict__, "padding": padding})).gen_a.double()
    x = torch.rand(2, 3, 32, 40, dtype=torch.float64) * 2 - 1
    content, style = gen.encode(x)
    results = []
    for fast in (False, True):
        gen.dec.fast_convs = fast
        gen.zero_grad()
        out = gen.decode(content.detach(), style.detach())
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in gen.dec.parameters()]))
    (plain, plain_grads), (fast, fast_grads) = results
    torch.testing.assert_close(fast, plain, atol=1e-12, rtol=0)
    for g_fast, g_plain in zip(fast_grads, plain_grads):
        torch.testing.assert_close(g_fast, g_plain, atol=1e-9, rtol=1e-9)


def test_tracing_first_leaves_no_traced_tensor_behind():
    """The fast decoder traced by torch.export *before* any eager call (a fresh process, as in a
    lone `munit export`), then run eagerly: a cache that kept a traced tensor would break the eager call."""
    script = """
import torch
from munit_cli.layers import conv_on_2x2_blocks
class Blocks(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 7, padding=3, padding_mode="reflect")
    def forward(self, x):
        return conv_on_2x2_blocks(x, self.conv)
blocks, x = Blocks(), torch.rand(1, 4, 16, 16)
torch.export.export(blocks, (x,))
torch.testing.assert_close(blocks(x), blocks.conv(x), atol=1e-5, rtol=1e-5)
print("eager after trace: ok")
"""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "eager after trace: ok" in proc.stdout, proc.stderr[-2000:]


def test_cuda_paths_equal_cpu_paths():
    """`devices.choose_paths`: the few-kernel norms and plain convolutions chosen for CUDA give the CPU
    paths' losses and gradients. In float64, but the CPU paths' norm statistics are float32 by design
    (relative error ~1e-7), hence the tolerances."""
    from munit_cli.devices import choose_paths

    torch.manual_seed(0)
    model = MUNIT(TINY_MODEL).double()
    # Spectral norm's power iteration steps at every training-mode call: hold it, so both paths
    # see the same discriminator weights.
    model.dis_a.eval()
    model.dis_b.eval()
    x_a, x_b = (torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1 for _ in range(2))
    s_a, s_b = (torch.randn(2, TINY_MODEL.style_dim, dtype=torch.float64) for _ in range(2))
    results = []
    for device_type in ("cpu", "cuda"):
        choose_paths(model, device_type)
        model.zero_grad()
        losses = generator_losses(model, x_a, x_b, s_a, s_b, LossWeights())
        losses["total"].backward()
        results.append((losses, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (cpu, cpu_grads), (cuda, cuda_grads) = results
    assert model.gen_a.dec.fast_convs is False and model.gen_a.enc_content.model[0].norm.few_kernels
    for key in cpu:
        torch.testing.assert_close(cuda[key], cpu[key], atol=1e-7, rtol=1e-6)
    assert cpu_grads.keys() == cuda_grads.keys()
    for name in cpu_grads:
        torch.testing.assert_close(cuda_grads[name], cpu_grads[name], atol=1e-5, rtol=1e-5, msg=name)


def test_cuda_step_launches_at_most_1500_operators_and_reads_nothing():
    """The launch budget of one training iteration on the CUDA paths (released model, 64x64, batch 1,
    fp32), counted on the CPU (benchmarks/op_count.py): views launch nothing and are not counted."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from munit_cli.devices import choose_paths
    from munit_cli.train import Trainer

    ops, syncs = [], []

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            aliases = any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)
            if func is torch.ops.aten._local_scalar_dense.default:
                syncs.append(func)
            elif not aliases and func.namespace != "profiler":  # profiler markers launch nothing
                ops.append(func)
            return func(*args, **(kwargs or {}))

    # The released model and loss weights: the budget is the step's (the default recipe's cycle loss
    # adds two decodes, its spectral norm a power iteration per discriminator convolution and call).
    config = TrainConfig(image_size=64, precision="fp32", model=RELEASED.model, loss=RELEASED.loss)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    choose_paths(trainer.model, "cuda")
    x_a, x_b = (torch.rand(1, 3, 64, 64) * 2 - 1 for _ in range(2))
    trainer.train_step(x_a, x_b)
    with Counter():
        trainer.train_step(x_a, x_b)
    assert not syncs
    # torch 2.4 differentiates split() with one zero-padded slice per part (~60 more operators).
    budget = 1500 if tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 5) else 1560
    assert 1000 < len(ops) <= budget, len(ops)
