"""bigmind_async: the async-first Python SDK for the BigMind Partner API's DICOM Reports."""

from bigmind_async._version import __version__

__all__ = ["__version__"]
