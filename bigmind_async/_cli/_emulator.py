"""``bigmind emulator serve``: the Partner API emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import click

__all__ = ["emulator"]


@click.group()
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
@click.option(
    "--rate-limit-burst",
    type=click.IntRange(min=1),
    default=None,
    help="Bucket capacity [default: the per-minute limit].",
)
@click.option("--no-rate-limit", is_flag=True, help="Turn the rate limit off.")
@click.option("--api-key", default=None, help="The API key to accept (default: generated).")
def serve(
    host: str,
    port: int,
    seed: str,
    rate_limit: int,
    rate_limit_burst: int | None,
    no_rate_limit: bool,
    api_key: str | None,
) -> int:
    """Serve the emulator until Ctrl-C, printing BIGMIND_BASE_URL and BIGMIND_API_KEY."""
    from bigmind_async.emulator import Emulator
    from bigmind_async.emulator._serve import run

    emu = Emulator(
        host=host,
        port=port,
        seed=seed,
        rate_limit=None if no_rate_limit else rate_limit,
        rate_limit_burst=rate_limit_burst,
        api_key=api_key,
    )
    return run(emu)
