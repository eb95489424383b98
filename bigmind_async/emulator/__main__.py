"""``python -m bigmind_async.emulator``: serve the emulator without the CLI extra."""

from __future__ import annotations

import argparse
import sys

from bigmind_async.emulator._serve import DEFAULT_PORT, run
from bigmind_async.emulator._server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bigmind_async.emulator",
        description="Serve the BigMind Partner API emulator until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--seed", choices=("demo", "none"), default="demo")
    parser.add_argument("--rate-limit", type=int, default=120, help="requests/minute/partner")
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    emu = Emulator(
        host=args.host,
        port=args.port,
        seed=args.seed,
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        api_key=args.api_key,
    )
    return run(emu)


if __name__ == "__main__":
    sys.exit(main())
