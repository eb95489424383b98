"""``python -m benchmarks``: every benchmark in one run, side by side, with ratios and targets.

Quick by default (a few minutes on 2 cores); ``--full`` runs every size at concurrency 1, 8
and 32 with more repeats. ``--only uploads,memory,listing,sync,rate`` picks sections. Prints
a markdown report on stdout (progress on stderr), and writes
``benchmarks/results/<timestamp>.json`` and ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import listing as listing_bench
from benchmarks import uploads as upload_bench
from benchmarks._common import files_dir, make_files, say
from benchmarks._report import render, verdicts
from benchmarks._servers import ServerProcess
from benchmarks._worker import Worker

SECTIONS = ("uploads", "memory", "listing", "sync", "rate")
RESULTS = Path(__file__).resolve().parent / "results"


def _machine() -> dict[str, Any]:
    curl = shutil.which("curl")
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in ("aiohttp", "httpx", "requests")},
        "curl": curl is not None,
        "load_before": os.getloadavg(),
    }


def sync_facade(*, full: bool) -> dict[str, Any]:
    """Per-call overhead of ``BigMind`` over ``AsyncBigMind`` (a tiny GET against the sink)."""
    try:
        import bigmind_sync  # noqa: F401
    except ImportError:
        return {"error": "bigmind_sync is not importable"}
    with ServerProcess("sink") as server:
        worker = Worker()
        try:
            answer = worker.call(
                op="overhead",
                server=server.info,
                server_pid=server.pid,
                count=2000 if full else 500,
                rounds=5 if full else 3,
            )
        finally:
            worker.close()
    if "error" not in answer:
        answer["overhead_us"] = answer["sync_us"] - answer["async_us"]
        say(
            f"  sync facade ({answer['placement']}): async {answer['async_us']:.0f} us/call, "
            f"sync {answer['sync_us']:.0f} us/call ({answer['source']})"
        )
    return answer


def rate_budget(*, full: bool) -> dict[str, Any]:
    """``benchmarks.rate_budget`` (emulator limit 600/min), in a worker process."""
    uploads = 200 if full else 100
    worker = Worker()
    try:
        answer = worker.call(op="rate_budget", uploads=uploads, rate=600, concurrency=16)
    finally:
        worker.close()
    answer["uploads"] = uploads
    answer["rate"] = 600
    for scenario in answer.get("scenarios", []):
        say(
            f"  rate budget {scenario['scenario']}: {scenario['ratio']:.3f}x ideal, "
            f"{scenario['rate_limited']} x 429"
        )
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--full", action="store_true", help="every scenario, more repeats")
    parser.add_argument("--repeats", type=int, help="override the repeats per scenario")
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--no-write", action="store_true", help="do not write results/")
    args = parser.parse_args(argv)
    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    repeats = args.repeats or (5 if args.full else 3)
    started = time.time()
    data: dict[str, Any] = {
        "mode": "full" if args.full else "quick",
        "repeats": repeats,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": _machine(),
        "command": "python -m benchmarks" + (" --full" if args.full else ""),
    }
    directory = files_dir()
    try:
        files = make_files(directory)
        if "uploads" in sections:
            say("upload throughput (sink server)")
            data["uploads"] = upload_bench.throughput(files, full=args.full, repeats=repeats)
        if "memory" in sections:
            say("peak RSS growth, 25 MiB uploads")
            data["memory"] = upload_bench.memory(files, repeats=3 if args.full else 1)
        if "listing" in sections:
            say("listing 10,000 studies (emulator)")
            data["listing"] = listing_bench.listing(repeats=repeats)
        if "sync" in sections:
            say("sync facade overhead")
            data["sync"] = sync_facade(full=args.full)
        if "rate" in sections:
            say("rate budget (emulator at 600/min)")
            data["rate_budget"] = rate_budget(full=args.full)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    data["seconds"] = time.time() - started
    data["machine"]["load_after"] = os.getloadavg()
    data["targets"] = verdicts(data)
    report = render(data)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"{stamp}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        (RESULTS / "latest.md").write_text(report + "\n")
        say(f"wrote {RESULTS / (stamp + '.json')} and {RESULTS / 'latest.md'}")
    return 0 if all(t["verdict"] != "MISS" for t in data["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
