"""The project's exception types.

Library code raises these with a message that says what is wrong and how to fix it; the CLI
catches ``MunitError`` once and prints ``error: <message>`` (see ``munit_cli.cli``).
"""


class MunitError(Exception):
    """Base class of every error munit-cli raises on purpose."""

    exit_code = 1  # the CLI's exit status for this error


class ConfigError(MunitError):
    """A configuration value is invalid or unknown; ``field`` is the setting's name when the message
    starts with it (so the CLI can name the flag or file the value came from instead)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DataError(MunitError):
    """A dataset folder or an input image cannot be used."""


class CheckpointError(MunitError):
    """A checkpoint file is missing, corrupt, foreign or of an unsupported version."""


class TrainingError(MunitError):
    """Training cannot continue (for example a loss became NaN or infinite)."""


class DeviceError(ConfigError):
    """The requested device does not exist here (exit status 2, like any wrong argument)."""

    exit_code = 2
