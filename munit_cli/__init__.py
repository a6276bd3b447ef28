"""munit-cli: train and run MUNIT (multimodal unsupervised image-to-image translation).

The public API is imported on first use, so that ``munit --help`` answers without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_PUBLIC = {  # name -> the module that defines it
    "MUNIT": "model", "ModelConfig": "config", "TrainConfig": "config", "LossWeights": "config",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "MunitError": "errors",
    "ConfigError": "errors", "DataError": "errors", "CheckpointError": "errors", "DeviceError": "errors",
    "TrainingError": "errors",
}
__all__ = [  # the names of _PUBLIC, spelled out for static tools
    "MUNIT", "ModelConfig", "TrainConfig", "LossWeights", "load_checkpoint", "save_checkpoint", "MunitError",
    "ConfigError", "DataError", "CheckpointError", "DeviceError", "TrainingError", "__version__",
]

if TYPE_CHECKING:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .config import LossWeights, ModelConfig, TrainConfig
    from .errors import CheckpointError, ConfigError, DataError, DeviceError, MunitError, TrainingError
    from .model import MUNIT


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
