"""bigmind_sync: the blocking facade over bigmind_async, for legacy code."""

from bigmind_async import __version__

__all__ = ["__version__"]
