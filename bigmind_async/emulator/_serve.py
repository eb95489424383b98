"""Serve an emulator in the foreground until Ctrl-C or SIGTERM (for the CLI and ``-m``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from bigmind_async.emulator._server import Emulator

DEFAULT_PORT = 8765


def announce(emu: Emulator, out: TextIO) -> None:
    """Print the shell-friendly ``NAME=value`` lines a caller needs, and flush."""
    lines = [
        f"BIGMIND_BASE_URL={emu.base_url}",
        f"BIGMIND_API_KEY={emu.api_key}",
    ]
    if emu.demo_customer_id is not None:
        lines.append(f"BIGMIND_CUSTOMER_ID={emu.demo_customer_id}")
    out.write("\n".join(lines) + "\n")
    out.flush()


async def serve(emu: Emulator, out: TextIO = sys.stdout) -> None:
    """Start ``emu``, print its address and key, and serve until cancelled or SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        async with emu:
            announce(emu, out)
            sys.stderr.write("Emulator running; press Ctrl-C to stop.\n")
            sys.stderr.flush()
            await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run(emu: Emulator, out: TextIO = sys.stdout) -> int:
    """Blocking ``serve``; returns the process exit code."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(emu, out))
    return 0
