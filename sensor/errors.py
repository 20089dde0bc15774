"""Errors that stop the sensor before it starts; per-packet problems are counted, never raised."""

__all__ = ["CaptureError", "ConfigError", "SensorError", "StorageError", "UsageError"]


class SensorError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""


class ConfigError(SensorError):
    """The site configuration is invalid (the message names file, line and key)."""


class CaptureError(SensorError):
    """A capture file or interface cannot be read at all."""


class StorageError(SensorError):
    """The flow store cannot be opened or created."""


class UsageError(SensorError):
    """A command was given something it cannot do: bad SQL, an unknown id, a bad period."""
