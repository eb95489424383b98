"""The ``bigmind`` command line (extra ``cli``): ``bigmind emulator serve`` for now.

``main`` is a click group; other commands hang off it (``@main.command()`` /
``@main.group()``). Without click installed, ``main()`` prints how to install the extra and
exits with status 1.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

INSTALL_HINT = 'The bigmind CLI needs the "cli" extra: pip install "bigmind[cli]"\n'

try:
    import click
except ModuleNotFoundError:  # pragma: no cover - exercised by the no-click test
    _HAVE_CLICK = False
else:
    _HAVE_CLICK = True


if TYPE_CHECKING or _HAVE_CLICK:

    @click.group(name="bigmind", context_settings={"help_option_names": ["-h", "--help"]})
    def main() -> None:
        """BigMind Partner API SDK command line."""

    @main.group()
    def emulator() -> None:
        """The local Partner API emulator."""

    @emulator.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
    @click.option(
        "--port", default=8765, show_default=True, type=int, help="TCP port; 0 picks a free one."
    )
    @click.option(
        "--seed",
        type=click.Choice(["demo", "none"]),
        default="demo",
        show_default=True,
        help="Data to start with.",
    )
    @click.option(
        "--rate-limit",
        type=click.IntRange(min=1),
        default=120,
        show_default=True,
        help="Requests per minute per partner.",
    )
    @click.option("--no-rate-limit", is_flag=True, help="Turn the rate limit off.")
    @click.option("--api-key", default=None, help="The API key to accept (default: generated).")
    def serve(
        host: str,
        port: int,
        seed: str,
        rate_limit: int,
        no_rate_limit: bool,
        api_key: str | None,
    ) -> None:
        """Serve the emulator until Ctrl-C, printing BIGMIND_BASE_URL and BIGMIND_API_KEY."""
        from bigmind_async.emulator import Emulator
        from bigmind_async.emulator._serve import run

        emu = Emulator(
            host=host,
            port=port,
            seed=seed,
            rate_limit=None if no_rate_limit else rate_limit,
            api_key=api_key,
        )
        sys.exit(run(emu))

else:  # pragma: no cover - exercised by the no-click test

    def main() -> None:
        """Tell the user how to get the CLI."""
        sys.stderr.write(INSTALL_HINT)
        sys.exit(1)
