"""Rate-budget use of ``attach_many``: how close a batch gets to the limit, and its 429s.

The emulator enforces ``--rate`` requests/minute per partner (a token bucket); the client's
limiter is set to the same rate. N uploads then ideally take ``N / (rate / 60)`` seconds. The
scenarios differ in the bucket sizes (bursts) on each side:

- ``server-default``: the emulator's default burst (a whole minute's budget);
  the client's default burst.
- ``server-burst-5``: the emulator lets only 5 requests through at once; the client's default
  burst. A client that sends a minute's budget at once trips this server.
- ``server-burst-5/client-burst-1``: the same server; the client evenly paced (burst 1).

Run: ``python -m benchmarks.rate_budget`` (defaults: 200 uploads at 600/minute, about a
minute in all), or ``--uploads 60 --rate 1200`` for a quick look. Prints elapsed vs ideal
(target <= 1.05x) and the 429 answers the emulator sent (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bigmind_async import AsyncBigMind, AttachJob
from bigmind_async._batch import attach_many
from bigmind_async.emulator import Emulator

SCENARIOS: dict[str, tuple[int | None, float | None]] = {
    # name: (server burst, client burst); None = that side's default
    "server-default": (None, None),
    "server-burst-5": (5, None),
    "server-burst-5/client-burst-1": (5, 1),
}


async def run_scenario(name: str, uploads: int, rate: int, concurrency: int) -> dict[str, Any]:
    server_burst, client_burst = SCENARIOS[name]
    async with Emulator(rate_limit=rate, rate_limit_burst=server_burst) as emu:
        customer = emu.add_customer()
        studies = [emu.add_study(customer) for _ in range(4)]
        jobs = [
            AttachJob(
                customer_id=customer,
                study_uid=studies[n % len(studies)],
                file=f"rate budget report {n}\n".encode(),
                filename=f"budget-{n}.txt",
                title=f"Budget {n}",
            )
            for n in range(uploads)
        ]
        async with AsyncBigMind(
            api_key=emu.api_key,
            base_url=emu.base_url,
            rate_limit=rate,
            rate_limit_burst=client_burst,
            max_retries=10,
        ) as client:
            started = time.monotonic()
            outcomes = [o async for o in attach_many(client.reports, jobs, concurrency=concurrency)]
            elapsed = time.monotonic() - started
        ideal = uploads / (rate / 60)
        return {
            "scenario": name,
            "ok": sum(o.ok for o in outcomes),
            "elapsed": elapsed,
            "ideal": ideal,
            "ratio": elapsed / ideal,
            "rate_limited": emu.stats.rate_limited,
            "requests": emu.stats.requests_total,
            "stored": len(emu.reports(customer)),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--rate", type=int, default=600, help="requests/minute, both sides")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    print(
        f"{args.uploads} uploads, emulator and client at {args.rate}/min, "
        f"concurrency {args.concurrency}; ideal {args.uploads / (args.rate / 60):.1f} s"
    )
    print(f"{'scenario':32} {'ok':>5} {'elapsed':>9} {'ratio':>7} {'429s':>6} {'requests':>9}")
    worst = 0.0
    any_429 = False
    for name in names:
        result = asyncio.run(run_scenario(name, args.uploads, args.rate, args.concurrency))
        print(
            f"{result['scenario']:32} {result['ok']:>5} {result['elapsed']:>8.2f}s "
            f"{result['ratio']:>6.3f}x {result['rate_limited']:>6} {result['requests']:>9}"
        )
        worst = max(worst, result["ratio"])
        any_429 = any_429 or result["rate_limited"] > 0
    print("targets: ratio <= 1.05x, 0 429s")
    return 1 if any_429 or worst > 1.05 else 0


if __name__ == "__main__":
    sys.exit(main())
