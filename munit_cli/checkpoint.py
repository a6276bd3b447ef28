"""Checkpoints: safetensors weights plus JSON metadata, atomic writes, and released-checkpoint import.

A checkpoint alone rebuilds its model: the metadata holds the format version, the package version,
the model config, the domain names and the training step. Nothing here unpickles, except
``import_official``, which reads released ``.pt`` files with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from . import __version__
from .config import ModelConfig, model_config_from_dict, to_json
from .data import IMAGE_EXTENSIONS
from .errors import CheckpointError, ConfigError
from .files import prepare_file
from .model import MUNIT

FORMAT = "munit-cli"
FORMAT_VERSION = 1
KIND_TRAINING = "training"      # both generators and discriminators (+ EMA generators)
KIND_GENERATOR = "generator"    # inference bundle: generators only
KIND_RESUME = "resume"          # training checkpoint plus optimiser and RNG state (--resume)
DISCRIMINATOR_PREFIXES = ("dis_a.", "dis_b.", "dis_content.")
EMA_PREFIX = "ema."
STATE_PREFIX = "state."


def atomic_save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file so that the final name only ever holds a complete file.

    The data goes to a temporary file in the same folder, is fsynced, then renamed over ``path``
    (rename is atomic on POSIX); the folder is fsynced so the rename itself survives a crash.
    """
    path = Path(path)
    prepare_file(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
    return path


def replace_with_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a complete copy of ``src`` atomically (a hard link when the filesystem allows)."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _what_instead(path: Path, error: Exception) -> str:
    """Why ``path`` does not open as safetensors, naming the usual mix-ups: a released MUNIT pickle
    (``gen_00100000.pt``, which `munit import-official` converts) and an image given as a checkpoint."""
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt", ".bin"):
        return ("a PyTorch pickle, not a safetensors checkpoint; convert a released MUNIT gen_*.pt with "
                f"`munit import-official {path} -o model.safetensors`")
    if suffix in IMAGE_EXTENSIONS:
        return "an image, not a checkpoint; give a .safetensors checkpoint or a run folder"
    return f"not a readable safetensors file (truncated or corrupt?): {error}"


def _read(path: str | Path, with_tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: {_what_instead(path, e)}") from None
    return tensors, metadata


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read every tensor and the metadata, turning any failure into a CheckpointError naming the file."""
    return _read(path, with_tensors=True)


def build_metadata(model: MUNIT, kind: str, **extra: Any) -> dict[str, str]:
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "munit_cli_version": __version__,
        "kind": kind,
        "config": to_json(model.config),
        "domains": json.dumps(list(model.domains)),
        "step": str(int(extra.pop("step", 0))),
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return meta


def pack_weights(model: MUNIT, ema: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """The model's state dict, plus the EMA generator weights under ``ema.``."""
    tensors = dict(model.state_dict())
    tensors.update({EMA_PREFIX + name: value for name, value in (ema or {}).items()})
    return tensors


def unpack_weights(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(model weights, EMA weights) of a file's tensors; resume-only ``state.`` tensors are left out."""
    weights = {k: v for k, v in tensors.items() if not k.startswith((EMA_PREFIX, STATE_PREFIX))}
    ema = {k[len(EMA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EMA_PREFIX)}
    return weights, ema


def save_checkpoint(model: MUNIT, path: str | Path, ema: dict[str, torch.Tensor] | None = None,
                    **extra_metadata: Any) -> Path:
    """Save a model (and optionally EMA generator weights) as one safetensors file.

    ``extra_metadata`` values are stored as strings (non-strings as JSON); ``step`` is recognised.
    A model without discriminators is saved as a generator-only inference bundle.
    """
    kind = KIND_TRAINING if model.has_discriminators else KIND_GENERATOR
    tensors = pack_weights(model, ema)
    extra_metadata.setdefault("has_ema", "true" if ema else "false")
    return atomic_save(tensors, path, build_metadata(model, kind, **extra_metadata))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a munit-cli checkpoint, validated (format and version); tensors are not read."""
    _, metadata = _read(path, with_tensors=False)
    _check_metadata(Path(path), metadata)
    return metadata


def _check_metadata(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a munit-cli checkpoint (no '{FORMAT}' format tag); "
                              "to convert a released MUNIT .pt file use `munit import-official`")
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: checkpoint format version {version} is not supported by "
                              f"munit-cli {__version__} (which reads version {FORMAT_VERSION}); "
                              "upgrade munit-cli or re-export the checkpoint")


def _config_from_metadata(path: Path, metadata: dict[str, str]) -> tuple[ModelConfig, tuple[str, str]]:
    try:
        config = model_config_from_dict(json.loads(metadata["config"]))
        domains = tuple(json.loads(metadata["domains"]))
    except (KeyError, json.JSONDecodeError, TypeError, ConfigError) as e:
        raise CheckpointError(f"{path}: checkpoint metadata is damaged ({e}); it cannot rebuild its model") from None
    return config, domains  # type: ignore[return-value]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", use_ema: bool = False,
                    discriminators: bool = True) -> MUNIT:
    """Rebuild a MUNIT model from a checkpoint or an inference bundle.

    Args:
        path: a ``.safetensors`` file written by munit-cli.
        device: where to put the model.
        use_ema: load the EMA generator weights into ``gen_a``/``gen_b`` when the file has them.
        discriminators: rebuild the discriminators too when the file has them; inference, which
            never calls them, passes False.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt, foreign or of another version.
    """
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    _check_metadata(path, metadata)
    config, domains = _config_from_metadata(path, metadata)
    discriminators = discriminators and metadata.get("kind") in (KIND_TRAINING, KIND_RESUME)
    weights, ema = unpack_weights(tensors)
    if use_ema:
        weights.update(ema)
    if discriminators:
        model = MUNIT(config, domains, init_weights=False)
        load_weights(model, weights, path)
    else:
        # Generators alone are built without storage and take the file's tensors: allocating weights
        # the file replaces cost a tenth of a second for the default model on 2 CPU cores. (Not the
        # discriminators: their spectral norm's set-up runs slower on the meta device than for real.)
        with torch.device("meta"):
            model = MUNIT(config, domains, discriminators=False, init_weights=False)
        generators = {k: v for k, v in weights.items() if not k.startswith(DISCRIMINATOR_PREFIXES)}
        load_weights(model, generators, path, assign=True)
    model.step = int(metadata.get("step", 0))  # type: ignore[attr-defined]
    return model.to(device).eval()


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Path | str,
                 assign: bool = False) -> None:
    """Load a state dict strictly, explaining mismatches instead of dumping key lists.

    ``assign``: for a model built on the meta device, which takes copies of the given tensors in its
    dtypes. (Copies: a tensor read from a file views its memory map at any offset, and a kernel may
    round differently on memory not aligned as the allocator aligns it.)
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {tuple(weights[k].shape)} "
                         f"vs {tuple(own[k].shape)})")
        raise CheckpointError(f"{source}: weights do not match the model its config describes: "
                              + "; ".join(parts))
    if assign:
        weights = {k: v.to(own[k].dtype, copy=True) for k, v in weights.items()}
    model.load_state_dict(weights, strict=True, assign=assign)


# ---------------------------------------------------------------------------------------------
# Released MUNIT checkpoints (NVlabs/MUNIT gen_XXXXXXXX.pt / dis_XXXXXXXX.pt).


def _load_pt(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Not torch's advice to retry with weights_only=False: that would run whatever code the file holds.
        raise CheckpointError(f"{path}: not a PyTorch checkpoint of tensors alone (torch.load with "
                              "weights_only=True refused it); the released gen_*.pt and dis_*.pt files are "
                              "such checkpoints: is this one of them, and complete?") from None
    except Exception as e:  # torch raises many types for foreign or corrupt files
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not (isinstance(data, dict) and {"a", "b"} <= set(data)
            and all(isinstance(data[k], dict) for k in ("a", "b"))):
        raise CheckpointError(f"{path}: not a released MUNIT checkpoint (expected a dict with state "
                              "dicts under 'a' and 'b', as gen_XXXXXXXX.pt and dis_XXXXXXXX.pt have)")
    return data


def _count(keys: list[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.fullmatch(pattern, k))}
    return max(found) + 1 if found else 0


def infer_generator_config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Recover the generator sizes from a released generator state dict's tensor shapes."""
    keys = list(state)
    try:
        first = state["enc_content.model.0.conv.weight"]
        n_style_convs = _count(keys, r"enc_style\.model\.(\d+)\.conv\.weight")
        n_content_convs = _count(keys, r"enc_content\.model\.(\d+)\.conv\.weight")
        n_res = _count(keys, r"enc_content\.model\.\d+\.model\.(\d+)\.model\.0\.conv\.weight")
        return {
            "input_channels": first.shape[1],
            "gen_dim": first.shape[0],
            "style_dim": state[f"enc_style.model.{n_style_convs + 1}.weight"].shape[0],
            "mlp_dim": state["mlp.model.0.fc.weight"].shape[0],
            "n_downsample": n_content_convs - 1,
            "n_res": n_res,
            "style_n_downsample": n_style_convs - 1,
        }
    except (KeyError, IndexError) as e:
        raise CheckpointError(f"{path}: not a released MUNIT generator checkpoint (no {e} tensor); "
                              "pass the gen_XXXXXXXX.pt file as GEN_PT and dis_XXXXXXXX.pt with --dis") from None


def infer_discriminator_config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Recover the discriminator sizes (dim, layers, scales) from a released state dict."""
    keys = list(state)
    try:
        return {
            "dis_dim": state["cnns.0.0.conv.weight"].shape[0],
            "dis_n_layer": _count(keys, r"cnns\.0\.(\d+)\.conv\.weight"),
            "dis_num_scales": _count(keys, r"cnns\.(\d+)\.0\.conv\.weight"),
        }
    except KeyError as e:
        raise CheckpointError(f"{path}: not a released MUNIT discriminator checkpoint (no {e} tensor)") from None


def _official_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Our AdaIN layers keep no running statistics: the released ones were never used.
    return {k: v for k, v in state.items() if not k.endswith(("norm.running_mean", "norm.running_var",
                                                               "norm.num_batches_tracked"))}


def import_official(gen_path: str | Path, dis_path: str | Path | None = None,
                    domains: tuple[str, str] = ("a", "b"), padding: str = "reflect",
                    activation: str = "relu") -> MUNIT:
    """Convert released MUNIT checkpoints into a MUNIT model; every size comes from tensor shapes.

    The released files do not record padding or activation (the released defaults, reflect and
    relu, are assumed unless given).
    """
    gen_path = Path(gen_path)
    gens = _load_pt(gen_path)
    values = infer_generator_config(gens["a"], gen_path)
    values.update(activation=activation, padding=padding, dis_norm="none")  # no spectral norm in the release
    dis = None
    if dis_path is not None:
        dis_path = Path(dis_path)
        dis = _load_pt(dis_path)
        values.update(infer_discriminator_config(dis["a"], dis_path))
    try:
        config = model_config_from_dict(values)
    except ConfigError as e:
        raise CheckpointError(f"{gen_path}: recovered an invalid configuration: {e}") from None
    model = MUNIT(config, domains, discriminators=dis is not None)
    weights = {f"gen_{d}.{k}": v for d in "ab" for k, v in _official_to_ours(gens[d]).items()}
    if dis is not None:
        weights.update({f"dis_{d}.{k}": v for d in "ab" for k, v in dis[d].items()})
    load_weights(model, weights, gen_path if dis is None else f"{gen_path} + {dis_path}")
    return model.eval()


def parameter_counts(model: MUNIT) -> dict[str, int]:
    """Parameters per network part, for ``munit info`` and the SPEC's published counts."""
    counts = {}
    for name in ("gen_a", "gen_b", "dis_a", "dis_b", "dis_content"):
        module = getattr(model, name)
        if module is not None:
            counts[name] = sum(p.numel() for p in module.parameters())
    for part in ("enc_style", "enc_content", "dec", "mlp"):
        counts[f"gen_a.{part}"] = sum(p.numel() for p in getattr(model.gen_a, part).parameters())
    return counts


# ---------------------------------------------------------------------------------------------
# Saved style codes (``munit style-sample --save-styles`` -> ``munit translate --styles``).

STYLES_FORMAT = "munit-cli-styles"


def save_styles(styles: torch.Tensor, path: str | Path, **metadata: str) -> Path:
    meta = {"format": STYLES_FORMAT, "style_dim": str(styles.shape[1]), **metadata}
    return atomic_save({"styles": styles.float()}, path, meta)


def load_styles(path: str | Path, style_dim: int) -> torch.Tensor:
    """Style codes [K, style_dim] from a styles file, checked against the model's style_dim."""
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != STYLES_FORMAT or "styles" not in tensors:
        raise CheckpointError(f"{path}: not a styles file; write one with `munit style-sample --save-styles FILE`")
    styles = tensors["styles"]
    if styles.dim() != 2 or styles.shape[1] != style_dim:
        raise CheckpointError(f"{path}: holds styles of dimension {tuple(styles.shape)[1:]} but the model's "
                              f"style_dim is {style_dim}; sample styles with this model's checkpoint")
    # A copy in freshly allocated memory: read from the file, the tensor starts wherever the file puts
    # it, and the CPU's matrix multiply rounds an unaligned input differently (the style MLP's
    # output then differs in the last bit from the same styles sampled in memory).
    return styles.clone()
