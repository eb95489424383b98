"""``bigmind demo``: the whole documented workflow against an in-process emulator."""

from __future__ import annotations

import click

from bigmind_async._cli._app import CliState, run_async
from bigmind_async._demo import DEMO_BATCH_SIZE, DEMO_RATE_LIMIT, run_demo

__all__ = ["demo"]


@click.command()
@click.option(
    "--reports",
    "batch_size",
    type=click.IntRange(min=1, max=1000),
    default=DEMO_BATCH_SIZE,
    show_default=True,
    help="Reports in the batch step.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Uploads in flight at once in the batch step.",
)
@click.option(
    "--rate-limit",
    "demo_rate",
    type=click.IntRange(min=60),
    default=DEMO_RATE_LIMIT,
    show_default=True,
    help="Requests/minute of the demo's emulator and client (the real API: 120).",
)
def demo(batch_size: int, concurrency: int, demo_rate: int) -> int:
    """Run the documented workflow on the bundled emulator: no API key, no network.

    Lists studies, attaches a generated PDF, fetches its signed URL, downloads and verifies
    it, lists and detaches; then attaches a batch with a progress bar.
    """
    state = click.get_current_context().find_object(CliState)
    assert state is not None
    return run_async(
        run_demo(state.out, batch_size=batch_size, concurrency=concurrency, rate_limit=demo_rate)
    )
