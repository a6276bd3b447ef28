"""The resume state: all that ``--resume`` needs to continue a run exactly where it stopped.

One safetensors file (``checkpoints/resume.safetensors``), written atomically, no pickle: the
weights and EMA as in a training checkpoint, the optimisers' moments as ``state.<optimiser>.<index>
.<field>`` tensors, the RNG states, and in the metadata the counters, the optimisers' parameter
groups and the gradient scaler's state (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import (
    KIND_RESUME,
    STATE_PREFIX,
    atomic_save,
    build_metadata,
    load_weights,
    pack_weights,
    read_safetensors,
    unpack_weights,
)
from .config import TrainConfig, to_dict, train_config_from_dict
from .errors import CheckpointError
from .model import MUNIT

RESUME_FILE = "resume.safetensors"


def save_resume_state(path: Path, model: MUNIT, ema: dict[str, torch.Tensor] | None,
                      optimizers: dict[str, torch.optim.Optimizer], scaler: torch.amp.GradScaler, *,
                      step: int, samples_seen: int, config: TrainConfig, device: torch.device) -> None:
    tensors = pack_weights(model, ema)
    meta_state: dict = {"step": step, "samples_seen": samples_seen,
                        "scaler": scaler.state_dict() if scaler.is_enabled() else None}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        for idx, param_state in state["state"].items():
            for key, value in param_state.items():
                tensors[f"{STATE_PREFIX}{name}.{idx}.{key}"] = torch.as_tensor(value)
        meta_state[name] = state["param_groups"]
    tensors[f"{STATE_PREFIX}rng.cpu"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors[f"{STATE_PREFIX}rng.cuda"] = torch.cuda.get_rng_state(device)
    atomic_save(tensors, path, build_metadata(model, KIND_RESUME, step=step, resume=json.dumps(meta_state),
                                              train_config=json.dumps(to_dict(config))))


def load_resume_state(path: Path, model: MUNIT, ema: dict[str, torch.Tensor] | None,
                      optimizers: dict[str, torch.optim.Optimizer], scaler: torch.amp.GradScaler,
                      device: torch.device) -> tuple[int, int]:
    """Restore everything in place (``ema`` included) and return (step, samples_seen)."""
    if not path.is_file():
        raise CheckpointError(f"--resume: no resume state at {path}; start without --resume, "
                              "or point --out at the run to continue")
    tensors, metadata = read_safetensors(path)
    try:
        meta_state = json.loads(metadata["resume"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: not a munit-cli resume state") from None
    weights, saved_ema = unpack_weights(tensors)
    load_weights(model, weights, path)
    if ema is not None:
        for k in ema:  # a run that turns EMA on at resume starts it from the live weights
            ema[k] = saved_ema.get(k, ema[k]).to(device)
    for name, opt in optimizers.items():
        state: dict = {"param_groups": meta_state[name], "state": {}}
        prefix = f"{STATE_PREFIX}{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                idx, field_name = key[len(prefix):].split(".", 1)
                state["state"].setdefault(int(idx), {})[field_name] = value
        opt.load_state_dict(state)
    if meta_state.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(meta_state["scaler"])
    torch.set_rng_state(tensors[f"{STATE_PREFIX}rng.cpu"])
    if device.type == "cuda" and f"{STATE_PREFIX}rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors[f"{STATE_PREFIX}rng.cuda"], device)
    return int(meta_state["step"]), int(meta_state["samples_seen"])


# Settings added after runs were first saved, with the values that keep an older run training as it
# did (the defaults may have moved on since): a resumed run never changes recipe by itself.
_BEFORE_IT_EXISTED = {"lr_dis": None, "r1_gamma": 0.0, "r1_every": 16, "lr_decay": 0.0}  # every other setting is saved


def config_from_saved(values: dict) -> TrainConfig:
    """A run's saved settings as a TrainConfig; settings it predates take their old behaviour."""
    return train_config_from_dict({**_BEFORE_IT_EXISTED, **values})


def saved_train_config(out_dir: str | Path) -> TrainConfig:
    """The resolved config a run saved in ``OUT/config.json`` (used by ``--resume``)."""
    path = Path(out_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"--resume: {path} not found; is {out_dir} a munit training run?")
    try:
        return config_from_saved(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: damaged ({e})") from None
