"""The targets of issue 7, judged from one run's data, and the markdown report."""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024

#: (size, concurrency-32 ratio of bigmind_async to raw aiohttp it must reach)
UPLOAD_TARGETS = {"64 KiB": 1.3, "1 MiB": 0.95, "25 MiB": 0.95}
MEMORY_TARGETS_MIB = {1: 4.0, 32: 12.0}


def _find(items: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for item in items:
        if all(item.get(k) == v for k, v in match.items()):
            return item
    return None


def _target(name: str, measured: str, ok: bool | None) -> dict[str, Any]:
    verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
    return {"target": name, "measured": measured, "verdict": verdict}


def _ratio_target(
    scenario: dict[str, Any] | None, stack: str, base: str, name: str, need: float
) -> dict[str, Any]:
    """A target on ``stack / base`` uploads/s: the median of the ratios paired by repeat."""
    ratio = scenario["ratios"].get(base, {}).get(stack) if scenario else None
    value = ratio["median"] if ratio else None
    measured = "not run" if value is None else f"{value:.2f}x ({_range(ratio, 'x')})"
    return _target(name, measured, None if value is None else value >= need)


def verdicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: what it asks, what this run measured, PASS / MISS / n/a."""
    rows: list[dict[str, Any]] = []
    uploads = data.get("uploads", [])
    for size, need in UPLOAD_TARGETS.items():
        rows.append(
            _ratio_target(
                _find(uploads, size=size, concurrency=32),
                "bigmind_async",
                "aiohttp",
                f"bigmind_async / aiohttp uploads/s, {size}, c=32 >= {need}x",
                need,
            )
        )
    for entry in data.get("memory", []):
        c = entry["concurrency"]
        need = MEMORY_TARGETS_MIB[c]
        ours = entry["stacks"].get("bigmind_async", {})
        value = ours.get("growth_bytes", {}).get("median")
        failed = "; ".join(ours.get("errors", []))[:60] or "failed"
        rows.append(
            _target(
                f"bigmind_async peak RSS growth, {c} x 25 MiB < {need:g} MiB",
                failed if value is None else f"{value / MIB:.1f} MiB",
                None if value is None else value / MIB < need,
            )
        )
    limit200 = _find(data.get("listing", []), limit=200)
    if limit200 is not None:
        reqs = limit200["stacks"]["bigmind_async"]["requests"]["median"]
        rows.append(
            _target(
                "listing 10,000 studies at limit 200: 50 requests",
                "failed" if reqs is None else f"{reqs:.0f} requests",
                None if reqs is None else reqs == 50,
            )
        )
        ratio = limit200["sdk_vs_aiohttp"]
        rows.append(
            _target(
                "listing items/s, SDK / raw aiohttp (JSON only), limit 200 >= 0.9x",
                "failed" if ratio["median"] is None else f"{ratio['median']:.2f}x",
                None if ratio["median"] is None else ratio["median"] >= 0.9,
            )
        )
    sync = data.get("sync")
    if sync is not None:
        over = sync.get("overhead_us")
        where = " (client, server on separate CPUs)" if sync.get("placement") == "split" else ""
        rows.append(
            _target(
                f"sync facade: added per call < 150 us{where}",
                sync.get("error", "") if over is None else f"{over:.0f} us",
                None if over is None else over < 150,
            )
        )
        scenario = _find(uploads, size="64 KiB", concurrency=8)
        for other, need in (("bigmind_async", 0.75), ("requests", 1.5)):
            rows.append(
                _ratio_target(
                    scenario,
                    "bigmind_sync",
                    other,
                    f"bigmind_sync 8 threads / {other} (8), 64 KiB uploads/s >= {need}x",
                    need,
                )
            )
    budget = data.get("rate_budget")
    if budget is not None:
        for scenario in budget.get("scenarios", []):
            ok = scenario["ratio"] <= 1.05 and scenario["rate_limited"] == 0
            rows.append(
                _target(
                    f"rate budget {scenario['scenario']}: <= 1.05x ideal, 0 x 429",
                    f"{scenario['ratio']:.3f}x, {scenario['rate_limited']} x 429",
                    ok,
                )
            )
        if "error" in budget:
            rows.append(_target("rate budget", budget["error"], False))
    return rows


def _range(s: dict[str, Any] | None, unit: str = "", scale: float = 1.0, fmt: str = ".2f") -> str:
    if not s or s.get("min") is None:
        return "-"
    return f"{s['min'] / scale:{fmt}}-{s['max'] / scale:{fmt}}{unit}"


def _med(s: dict[str, Any] | None, scale: float = 1.0, fmt: str = ".0f") -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{s['median'] / scale:{fmt}}"


def _growth_cell(stack: dict[str, Any]) -> str:
    """Median growth in MiB (min-max when there were several repeats), or the errors."""
    growth = stack["growth_bytes"]
    if growth["median"] is None:
        return "error: " + "; ".join(stack["errors"])[:60]
    spread = f" ({_range(growth, scale=MIB, fmt='.1f')})" if len(growth["values"]) > 1 else ""
    cell = _med(growth, MIB, ".1f") + spread
    return cell + (f" ({len(stack['errors'])} failed)" if stack["errors"] else "")


def render(data: dict[str, Any]) -> str:
    """The whole run as markdown."""
    m = data["machine"]
    out = [
        f"# Benchmarks ({data['mode']} run, {data['repeats']} repeats, {data['started']})",
        "",
        f"`{data['command']}` on {m['cpus']} CPUs, Python {m['python']}, aiohttp "
        f"{m['aiohttp']}, httpx {m['httpx']}, requests {m['requests']}; load average "
        f"{m['load_before'][0]:.1f} before, {m['load_after'][0]:.1f} after; "
        f"{data['seconds'] / 60:.1f} minutes.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    out += [f"| {t['target']} | {t['measured']} | **{t['verdict']}** |" for t in data["targets"]]
    uploads = data.get("uploads")
    if uploads:
        stacks = list(uploads[0]["stacks"])
        out += [
            "",
            "## Upload throughput (sink server in another process)",
            "",
            "uploads/s: median (min-max over repeats); MB/s; then the ratio to raw aiohttp "
            "measured in the same repeats (median). Threads = concurrency for `bigmind_sync` "
            "and `requests`.",
            "",
            "| size | conc | " + " | ".join(stacks) + " |",
            "|---|---|" + "---|" * len(stacks),
        ]
        for sc in uploads:
            cells = []
            for stack in stacks:
                st = sc["stacks"][stack]
                if st["uploads_per_s"]["median"] is None:
                    cells.append("error: " + "; ".join(st["errors"])[:60])
                    continue
                ratio = sc["ratios"].get("aiohttp", {}).get(stack)
                cells.append(
                    f"{_med(st['uploads_per_s'])}/s ({_range(st['uploads_per_s'], fmt='.0f')})"
                    f"<br>{_med(st['mb_per_s'])} MB/s<br>**{_med(ratio, fmt='.2f')}x**"
                )
            out.append(f"| {sc['size']} | {sc['concurrency']} | " + " | ".join(cells) + " |")
        out += [
            "",
            "Client CPU per upload (ms, median; curl: its processes):",
            "",
            "| size | conc | " + " | ".join(stacks) + " |",
            "|---|---|" + "---|" * len(stacks),
        ]
        for sc in uploads:
            cells = [_med(sc["stacks"][s]["cpu_ms_per_upload"], fmt=".2f") for s in stacks]
            out.append(f"| {sc['size']} | {sc['concurrency']} | " + " | ".join(cells) + " |")
    memory = data.get("memory")
    if memory:
        stacks = list(memory[0]["stacks"])
        out += [
            "",
            "## Peak RSS growth of the client process, 25 MiB uploads (MiB)",
            "",
            "| uploads at once | " + " | ".join(stacks) + " |",
            "|---|" + "---|" * len(stacks),
        ]
        for entry in memory:
            cells = [_growth_cell(entry["stacks"][s]) for s in stacks]
            out.append(f"| {entry['concurrency']} | " + " | ".join(cells) + " |")
    listing = data.get("listing")
    if listing:
        out += [
            "",
            "## Listing 10,000 studies (emulator in another process)",
            "",
            "| limit | stack | requests | items/s median (min-max) | SDK / raw |",
            "|---|---|---|---|---|",
        ]
        for entry in listing:
            for stack, st in entry["stacks"].items():
                ratio = (
                    f"**{_med(entry['sdk_vs_aiohttp'], fmt='.2f')}x** "
                    f"({_range(entry['sdk_vs_aiohttp'], 'x')})"
                    if stack == "bigmind_async"
                    else ""
                )
                out.append(
                    f"| {entry['limit']} | {stack} | {_med(st['requests'])} | "
                    f"{_med(st['items_per_s'])} ({_range(st['items_per_s'], fmt='.0f')}) | "
                    f"{ratio} |"
                )
    sync = data.get("sync")
    if sync:
        out += ["", "## Sync facade", ""]
        if "error" in sync:
            out.append(f"not measured: {sync['error']}")
        else:
            out += [
                f"Median latency of a tiny GET against the sink, us ({sync['source']}).",
                "",
                "| placement | async | sync | added |",
                "|---|---|---|---|",
            ]
            rows_by_placement = [(sync["placement"], sync)]
            if sync.get("placement") == "split" and "free" in sync:
                rows_by_placement.append(("free", sync["free"]))
            for placement, entry in rows_by_placement:
                label = {
                    "split": "client on one CPU, server on another",
                    "free": "free (wherever the scheduler puts them)",
                }[placement]
                out.append(
                    f"| {label} | {entry['async_us']:.0f} | {entry['sync_us']:.0f} | "
                    f"{entry['sync_us'] - entry['async_us']:.0f} |"
                )
            if "wake_two_cpus_us" in sync:
                out += [
                    "",
                    "One thread hand-off round trip (`call_soon_threadsafe` + lock, after 300 us "
                    f"idle): {sync['wake_same_cpu_us']:.0f} us with both threads on one CPU, "
                    f"{sync['wake_two_cpus_us']:.0f} us across two. A sync call makes two "
                    "hand-offs.",
                ]
            out += ["", "8-thread throughput: the `64 KiB, conc 8` row of the upload table."]
    budget = data.get("rate_budget")
    if budget:
        out += [
            "",
            f"## Rate budget: attach_many, {budget['uploads']} uploads, emulator and client at "
            f"{budget['rate']}/min",
            "",
        ]
        if "error" in budget:
            out.append(f"failed: {budget['error']}")
        else:
            out += [
                "| scenario | ok | elapsed s | ideal s | ratio | 429s | requests |",
                "|---|---|---|---|---|---|---|",
            ]
            out += [
                f"| {s['scenario']} | {s['ok']} | {s['elapsed']:.2f} | {s['ideal']:.2f} | "
                f"{s['ratio']:.3f}x | {s['rate_limited']} | {s['requests']} |"
                for s in budget["scenarios"]
            ]
    return "\n".join(out)
