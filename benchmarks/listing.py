"""Listing 10,000 studies: the SDK's pager against raw aiohttp reading the JSON pages.

The emulator (another process) holds one customer with 10,000 indexed studies. Each run walks
all of them at ``limit`` per page, in a worker process per stack:

- ``bigmind_async``: ``async for study in client.studies.list(customer, page_size=limit)``,
  every item structured into a ``Study`` model;
- ``aiohttp``: GET page after page with ``json.loads`` of each body, items left as dicts (no
  models), stopping at ``totalPages``.

The emulator counts the list requests each run sent (its stats, reset before the run).
"""

from __future__ import annotations

from typing import Any

from benchmarks._common import say, summary
from benchmarks._servers import ServerProcess
from benchmarks._worker import Worker

STUDIES = 10_000
LIMITS = (20, 200)
STACKS = ("bigmind_async", "aiohttp")


def listing(*, repeats: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with ServerProcess("listing", studies=STUDIES) as server:
        workers = {stack: Worker() for stack in STACKS}
        try:
            for limit in LIMITS:
                items: dict[str, list[float]] = {s: [] for s in STACKS}
                requests: dict[str, list[float]] = {s: [] for s in STACKS}
                errors: dict[str, list[str]] = {s: [] for s in STACKS}
                paired: list[float] = []
                for rep in range(repeats):
                    order = STACKS if rep % 2 == 0 else STACKS[::-1]
                    rates: dict[str, float] = {}
                    for stack in order:
                        server.command("clear")
                        answer = workers[stack].call(
                            op="list", stack=stack, server=server.info, limit=limit
                        )
                        stats = server.command("stats")
                        if "error" in answer or answer["items"] != STUDIES:
                            errors[stack].append(answer.get("error", f"{answer['items']} items"))
                            continue
                        rates[stack] = answer["items"] / answer["seconds"]
                        items[stack].append(rates[stack])
                        requests[stack].append(stats["requestsByRoute"].get("list_studies", 0))
                    if len(rates) == len(STACKS):
                        paired.append(rates["bigmind_async"] / rates["aiohttp"])
                    say(
                        f"  listing limit={limit:<3} repeat {rep + 1}/{repeats}: "
                        + ", ".join(f"{s} {r:.0f} items/s" for s, r in rates.items())
                    )
                results.append(
                    {
                        "limit": limit,
                        "studies": STUDIES,
                        "stacks": {
                            s: {
                                "items_per_s": summary(items[s]),
                                "requests": summary(requests[s]),
                                "errors": errors[s],
                            }
                            for s in STACKS
                        },
                        "sdk_vs_aiohttp": summary(paired),
                    }
                )
        finally:
            for worker in workers.values():
                worker.close()
    return results
