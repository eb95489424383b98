"""The ``bigmind`` command line (extra ``cli``: click and rich).

``main`` is the console-script entry point. Without click or rich installed it prints how to
install the extra and exits with status 1. The commands live in one module per group:
``_resources`` (``studies``, ``reports``), ``_batch`` (``batch attach``), ``_emulator``
(``emulator serve``) and ``_app`` (the root group, its global options, ``demo``, and the one
place errors become one-line messages and exit codes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["INSTALL_HINT", "main"]

INSTALL_HINT = 'The bigmind CLI needs the "cli" extra: pip install "bigmind[cli]"\n'


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``bigmind`` with ``argv`` (default: the process's arguments) and exit."""
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ModuleNotFoundError:
        sys.stderr.write(INSTALL_HINT)
        sys.exit(1)
    from bigmind_async._cli._app import run

    sys.exit(run(argv))
