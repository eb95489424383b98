"""Upload throughput and client memory, every stack against the same sink server.

Throughput: for each (file size, concurrency) scenario and each repeat, every stack runs one
batch in its own worker process, in a rotating order (round-robin, so drift on a busy machine
hits every stack alike). A batch is one warm-up upload, then ``count`` timed uploads with
``concurrency`` in flight (tasks for async stacks, threads for ``bigmind_sync`` and
``requests``, all started before the warm-up, ``curl`` processes for curl). The server is the
sink of :mod:`benchmarks._servers` in another process, so the number is the client's. Ratios
(``ratios[base][stack]``, against ``aiohttp``, ``bigmind_async`` and ``requests``) divide two
stacks' rates of the same repeat, then take the median over repeats.

Memory: for each stack, a FRESH worker warms up (imports, client, pool threads, one small
upload), takes its RSS as the baseline, then sends one 25 MiB upload (and, in another fresh
worker, 32 at once) while a thread samples RSS every 2 ms. curl runs out of process: not
measured.

Either way a run counts only when every upload got its 201 and the sink received each one
(and the warm-up upload); otherwise it is an error, not a number: a stack whose uploads fail
would look fast, or lean.
"""

from __future__ import annotations

from typing import Any

from benchmarks._common import SIZES, say, summary
from benchmarks._servers import ServerProcess
from benchmarks._worker import STACKS, Worker

#: Timed uploads per batch, by (size, concurrency): about a second for the fast stacks.
COUNTS = {
    ("64 KiB", 1): 200,
    ("64 KiB", 8): 600,
    ("64 KiB", 32): 800,
    ("1 MiB", 1): 60,
    ("1 MiB", 8): 160,
    ("1 MiB", 32): 192,
    ("25 MiB", 1): 4,
    ("25 MiB", 8): 16,
    ("25 MiB", 32): 64,
}
QUICK = [("64 KiB", 1), ("64 KiB", 8), ("64 KiB", 32), ("1 MiB", 32), ("25 MiB", 32)]
FULL = [(size, c) for size in SIZES for c in (1, 8, 32)]
MEMORY_STACKS = [s for s in STACKS if s != "curl"]
#: The stacks every other one is compared with, in the same repeats: the raw ceiling, and the
#: two the sync facade's targets compare ``bigmind_sync`` with.
RATIO_BASES = ("aiohttp", "bigmind_async", "requests")


def available_stacks() -> list[str]:
    try:
        import bigmind_sync  # noqa: F401
    except ImportError:
        return [s for s in STACKS if s != "bigmind_sync"]
    return list(STACKS)


def throughput(files: dict[str, str], *, full: bool, repeats: int) -> list[dict[str, Any]]:
    """Every scenario's uploads/s and MB/s per stack, medians over ``repeats``."""
    stacks = available_stacks()
    scenarios = FULL if full else QUICK
    results: list[dict[str, Any]] = []
    with ServerProcess("sink") as server:
        workers = {stack: Worker() for stack in stacks}
        try:
            for size_label, concurrency in scenarios:
                count = COUNTS[size_label, concurrency]
                size = SIZES[size_label]
                runs: dict[str, list[dict[str, Any]]] = {stack: [] for stack in stacks}
                for rep in range(repeats):
                    order = stacks[rep % len(stacks) :] + stacks[: rep % len(stacks)]
                    for stack in order:
                        server.command("clear")
                        answer = workers[stack].call(
                            op="upload",
                            stack=stack,
                            server=server.info,
                            path=files[size_label],
                            warmup_path=files["warm-up"],
                            count=count,
                            concurrency=concurrency,
                        )
                        _check(answer, server.command("clear"), count)
                        runs[stack].append(answer)
                    say(
                        f"  uploads {size_label:>6} c={concurrency:<2} repeat {rep + 1}/{repeats}: "
                        + ", ".join(
                            f"{s} {count / runs[s][-1]['seconds']:.0f}/s"
                            if "error" not in runs[s][-1]
                            else f"{s} ERROR"
                            for s in stacks
                        )
                    )
                results.append(_scenario(size_label, size, concurrency, count, runs))
        finally:
            for worker in workers.values():
                worker.close()
    return results


def _check(answer: dict[str, Any], seen: dict[str, Any], count: int) -> None:
    """Sets ``answer["error"]`` unless all ``count`` uploads got a 201 and the sink (``seen``:
    its counts, read and reset by ``clear``) received them and the warm-up upload, no more."""
    if "error" not in answer and answer["ok"] != count:
        answer["error"] = f"{count - answer['ok']} uploads failed"
    if "error" not in answer and seen["uploads"] != count + 1:
        answer["error"] = f"the sink saw {seen['uploads']} uploads"


def _scenario(
    size_label: str, size: int, concurrency: int, count: int, runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    stacks: dict[str, Any] = {}
    for stack, answers in runs.items():
        good = [a for a in answers if "error" not in a]
        errors = [a["error"] for a in answers if "error" in a]
        per_s = [count / a["seconds"] for a in good]
        stacks[stack] = {
            "uploads_per_s": summary(per_s),
            "mb_per_s": summary([u * size / 1e6 for u in per_s]),
            "cpu_ms_per_upload": summary([a["cpu"] / count * 1e3 for a in good]),
            "errors": errors,
            # per repeat, None where that repeat failed: ratios pair repeats
            "_per_repeat": [count / a["seconds"] if "error" not in a else None for a in answers],
        }
    # ratios[base][stack]: stack / base, repeat by repeat
    ratios = {
        base: {
            stack: _paired(data["_per_repeat"], stacks[base]["_per_repeat"])
            for stack, data in stacks.items()
        }
        for base in RATIO_BASES
        if base in stacks
    }
    for data in stacks.values():
        data.pop("_per_repeat")
    return {
        "size": size_label,
        "size_bytes": size,
        "concurrency": concurrency,
        "uploads_per_batch": count,
        "stacks": stacks,
        "ratios": ratios,
    }


def _paired(mine: list[float | None], theirs: list[float | None]) -> dict[str, Any]:
    """``mine / theirs`` over the repeats where both ran: each ratio pairs the two batches of
    one repeat, so drift between repeats cancels out."""
    pairs = [a / b for a, b in zip(mine, theirs, strict=True) if a is not None and b is not None]
    return summary(pairs)


def memory(files: dict[str, str], *, repeats: int) -> list[dict[str, Any]]:
    """Peak RSS growth (bytes) of each stack for 1 and for 32 concurrent 25 MiB uploads."""
    stacks = [s for s in available_stacks() if s in MEMORY_STACKS]
    results: list[dict[str, Any]] = []
    with ServerProcess("sink") as server:
        for concurrency in (1, 32):
            growth: dict[str, list[float]] = {stack: [] for stack in stacks}
            errors: dict[str, list[str]] = {stack: [] for stack in stacks}
            for rep in range(repeats):
                order = stacks[rep % len(stacks) :] + stacks[: rep % len(stacks)]
                shown: dict[str, str] = {}
                for stack in order:
                    worker = Worker()  # fresh: nothing earlier sits in its heap
                    server.command("clear")
                    try:
                        answer = worker.call(
                            op="memory",
                            stack=stack,
                            server=server.info,
                            path=files["25 MiB"],
                            warmup_path=files["warm-up"],
                            count=concurrency,
                            concurrency=concurrency,
                        )
                    finally:
                        worker.close()
                    # A stack whose uploads failed holds no bodies: its low RSS means nothing.
                    _check(answer, server.command("clear"), concurrency)
                    if "error" in answer:
                        errors[stack].append(answer["error"])
                        shown[stack] = "ERROR"
                    else:
                        growth[stack].append(answer["growth"])
                        shown[stack] = f"{answer['growth'] / 2**20:.1f} MiB"
                say(
                    f"  memory {concurrency:>2} x 25 MiB repeat {rep + 1}/{repeats}: "
                    + ", ".join(f"{s} {shown[s]}" for s in stacks)
                )
            results.append(
                {
                    "concurrency": concurrency,
                    "stacks": {
                        s: {"growth_bytes": summary(growth[s]), "errors": errors[s]} for s in stacks
                    },
                }
            )
    return results
