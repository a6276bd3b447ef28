"""safetensors checkpoints: round trips, atomic writes, and every kind of bad file."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import munit_cli.checkpoint as ckpt
from munit_cli import MUNIT, CheckpointError, load_checkpoint, save_checkpoint

from .conftest import FIXTURE_DIR, TINY_MODEL


@pytest.fixture
def model() -> MUNIT:
    return MUNIT(TINY_MODEL, ("dog", "cat")).eval()


def test_save_load_identical(model, tmp_path):
    path = save_checkpoint(model, tmp_path / "m.safetensors", step=42, note="hello")
    loaded = load_checkpoint(path)
    assert loaded.config == model.config and loaded.domains == ("dog", "cat") and loaded.step == 42
    x = torch.rand(2, 3, 32, 32)
    s = torch.randn(2, TINY_MODEL.style_dim)
    with torch.no_grad():
        assert torch.equal(model.translate(x, s), loaded.translate(x, s))
        assert all(torch.equal(a, b) for a, b in zip(model.dis_a(x), loaded.dis_a(x)))
    meta = ckpt.read_metadata(path)
    assert meta["note"] == "hello" and meta["format_version"] == "1" and json.loads(meta["domains"]) == ["dog", "cat"]


def test_ema_weights_load_on_request(model, tmp_path):
    ema = {k: torch.zeros_like(v) for k, v in model.state_dict().items() if k.startswith("gen_")}
    path = save_checkpoint(model, tmp_path / "m.safetensors", ema=ema)
    assert torch.equal(load_checkpoint(path).gen_a.mlp.model[0].fc.weight, model.gen_a.mlp.model[0].fc.weight)
    assert load_checkpoint(path, use_ema=True).gen_a.mlp.model[0].fc.weight.abs().sum() == 0


def test_generators_only_load_matches_the_full_load(model, tmp_path):
    """Inference loads a training checkpoint without its discriminators (the generators are built
    on the meta device and take copies of the file's tensors): the same generators, every tensor
    real and aligned as the allocator aligns it (not a view into the file's memory map)."""
    ema = {k: torch.randn_like(v) for k, v in model.state_dict().items() if k.startswith("gen_")}
    path = save_checkpoint(model, tmp_path / "m.safetensors", step=7, ema=ema)
    for use_ema in (False, True):
        full = load_checkpoint(path, use_ema=use_ema)
        light = load_checkpoint(path, use_ema=use_ema, discriminators=False)
        assert full.has_discriminators and not light.has_discriminators and light.step == 7 and not light.training
        light_state = light.state_dict()
        assert set(light_state) == {k for k in full.state_dict() if k.startswith("gen_")}
        for name, tensor in light_state.items():
            assert tensor.device.type == "cpu" and tensor.dtype == torch.float32, name
            assert tensor.data_ptr() % 64 == 0, name  # c10's CPU allocator aligns to 64 bytes
            assert torch.equal(tensor, full.state_dict()[name]), name
        x, s = torch.rand(2, 3, 32, 32), torch.randn(2, TINY_MODEL.style_dim)
        with torch.no_grad():
            assert torch.equal(full.translate(x, s), light.translate(x, s))
    # A tensor stored in another dtype is cast to the model's, as a copying load would.
    save_file({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}, str(tmp_path / "half.safetensors"),
              metadata=ckpt.read_metadata(path))
    light = load_checkpoint(tmp_path / "half.safetensors", discriminators=False)
    assert {t.dtype for t in light.state_dict().values()} == {torch.float32}
    assert torch.equal(light.gen_a.mlp.model[0].fc.weight, model.gen_a.mlp.model[0].fc.weight.bfloat16().float())


def test_interrupted_save_keeps_old_file(model, tmp_path, monkeypatch):
    path = save_checkpoint(model, tmp_path / "m.safetensors", step=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed halfway through writing

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, path, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left behind


def _write_bad(kind: str, model: MUNIT, path):
    good = save_checkpoint(model, path.with_name("good.safetensors"))
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        path.write_bytes(b"\x00" * 8 + b"garbage" * 50)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "foreign":
        save_file({"weight": torch.zeros(3)}, str(path), metadata={"format": "pt"})
    elif kind == "wrong_version":
        meta = ckpt.read_metadata(good)
        meta["format_version"] = "99"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    elif kind == "wrong_shapes":
        meta = ckpt.read_metadata(good)
        meta["config"] = json.dumps({**json.loads(meta["config"]), "gen_dim": 16})
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    elif kind == "bad_config":
        meta = ckpt.read_metadata(good)
        meta["config"] = "{not json"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


@pytest.mark.parametrize("kind,message", [
    ("truncated", "truncated or corrupt"), ("corrupt", "truncated or corrupt"), ("empty", "truncated or corrupt"),
    ("foreign", "not a munit-cli checkpoint"), ("wrong_version", "format version 99 is not supported"),
    ("wrong_shapes", "do not match"), ("bad_config", "metadata is damaged"), ("missing", "no such checkpoint"),
])
def test_bad_checkpoints_raise_checkpoint_error(kind, message, model, tmp_path):
    path = tmp_path / "bad.safetensors"
    if kind != "missing":
        _write_bad(kind, model, path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_pickle_or_an_image_given_as_checkpoint_is_named_as_such(tmp_path):
    """The usual mix-ups get their own message: the released code's gen_*.pt (with the command that
    converts it) and a picture; both real files, saved by torch and by Pillow."""
    with pytest.raises(CheckpointError, match=r"a PyTorch pickle.*munit import-official .*gen_00000001.pt"):
        load_checkpoint(FIXTURE_DIR / "gen_00000001.pt")
    Image.new("RGB", (8, 8)).save(tmp_path / "dog.JPG")
    with pytest.raises(CheckpointError, match="dog.JPG: an image, not a checkpoint"):
        load_checkpoint(tmp_path / "dog.JPG")


def test_no_pickle_in_loading_path(monkeypatch, model, tmp_path):
    path = save_checkpoint(model, tmp_path / "m.safetensors")

    def forbidden(*args, **kwargs):
        raise AssertionError("load_checkpoint must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    load_checkpoint(path)
