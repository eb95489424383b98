"""The ``bigmind`` logger: one DEBUG line per request, response and retry; INFO stays quiet.

``BIGMIND_LOG=debug`` (or ``info``, ``warning``) in the environment attaches a stderr handler
at that level, without any code. Nothing logged ever contains the API key: lines are built from
the method, the path (no query string: it may hold patient names), status, attempt, elapsed
milliseconds and the request id; :func:`scrub` is a last line of defence for error text.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from bigmind_async._config import LOG_ENV

__all__ = ["logger", "scrub", "setup_from_env"]

logger = logging.getLogger("bigmind")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_HANDLER_MARK = "_bigmind_env_handler"


def setup_from_env(environ: Mapping[str, str] | None = None) -> logging.Handler | None:
    """Honour ``BIGMIND_LOG``: add (once) a stderr handler at that level. Returns it, if any."""
    env = os.environ if environ is None else environ
    level = _LEVELS.get(env.get(LOG_ENV, "").strip().lower())
    if level is None:
        return None
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            handler.setLevel(level)
            logger.setLevel(min(level, logger.level or level))
            return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler


def scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced."""
    if secret and secret in text:
        return text.replace(secret, "**********")
    return text
