"""The SDK's version, read from the installed distribution so it has one source."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bigmind")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0.0.0"
