"""Shared fixtures: tiny configs (dim 8, 32x32) and generated image folders, so the suite runs on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from munit_cli.config import ModelConfig, TrainConfig
from munit_cli.demo import make_shapes_dataset

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "official_small"

# The same tiny settings for `munit train --config` in the CLI tests.
TINY_TOML = """
image_size = 32
batch_size = 2
workers = 0
n_samples = 2
log_every = 1

[model]
gen_dim = 8
style_dim = 4
mlp_dim = 16
n_res = 1
dis_dim = 8
dis_n_layer = 3
dis_num_scales = 2
"""

TINY_MODEL = ModelConfig(gen_dim=8, style_dim=4, mlp_dim=16, n_res=1, dis_dim=8, dis_n_layer=3, dis_num_scales=2)


def tiny_train_config(**changes) -> TrainConfig:
    # fp32 whatever the CPU: tests compare numbers with float32 tolerances on every machine.
    values = dict(model=TINY_MODEL, image_size=32, batch_size=2, iterations=3, workers=0, precision="fp32",
                  checkpoint_every=1000, sample_every=1000, log_every=1, n_samples=2, seed=0)
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory) -> Path:
    """An AFHQ-style folder: train/{sketch,paint} and test/{sketch,paint} of 32x32 PNGs."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), n_train=12, n_test=2, size=32, seed=1)


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, shapes_root) -> Path:
    """A real training run of two steps; returns its latest.safetensors."""
    from munit_cli.train import TrainData, Trainer

    out = tmp_path_factory.mktemp("run") / "runs" / "sketch2paint"
    config = tiny_train_config(iterations=2)
    data = TrainData.from_folder(shapes_root, "sketch", "paint", config)
    result = Trainer(config, data, out, ("sketch", "paint"), device="cpu").fit()
    return result.checkpoint


def write_metric_weights(folder: Path) -> Path:
    """Random weights in the real files' formats: torchvision's AlexNet state dict, torch-fidelity's
    Inception state dict (its constructor's own download and load are bypassed to get the layers)."""
    import torchvision
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    from munit_cli.metrics import ALEXNET_URL, INCEPTION_URL

    folder.mkdir(exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), folder / ALEXNET_URL.rsplit("/", 1)[1])
    original_load, original_fetch = fe.FeatureExtractorInceptionV3.load_state_dict, fe.load_state_dict_from_url
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None
    fe.load_state_dict_from_url = lambda *args, **kwargs: None
    try:
        inception = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fe.FeatureExtractorInceptionV3.load_state_dict, fe.load_state_dict_from_url = original_load, original_fetch
    torch.save(inception.state_dict(), folder / INCEPTION_URL.rsplit("/", 1)[1])
    return folder
