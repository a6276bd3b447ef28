"""munit-cli: train and run MUNIT (multimodal unsupervised image-to-image translation)."""

__version__ = "0.1.0"

from .checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from .config import LossWeights, ModelConfig, TrainConfig  # noqa: E402
from .errors import CheckpointError, ConfigError, DataError, MunitError, TrainingError  # noqa: E402
from .model import MUNIT  # noqa: E402

__all__ = [
    "MUNIT", "ModelConfig", "TrainConfig", "LossWeights", "load_checkpoint", "save_checkpoint",
    "MunitError", "ConfigError", "DataError", "CheckpointError", "TrainingError", "__version__",
]
