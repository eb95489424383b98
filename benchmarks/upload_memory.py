"""Peak RSS growth of streaming 25 MiB uploads: one alone, then 32 at once.

    python benchmarks/upload_memory.py

The emulator runs in ANOTHER process (its memory is not ours); each measurement runs in a
fresh interpreter that creates the file, warms the client up (imports, session, one small
upload), takes its RSS as the baseline, then samples RSS with psutil every 2 ms while the
uploads run. Targets (issue 3): under 4 MiB growth for one upload, under 12 MiB for 32.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZE = 25 * 1024 * 1024
TARGETS_MIB = {1: 4.0, 32: 12.0}

_SERVER = r"""
import asyncio, json, sys
from bigmind_async.emulator import Emulator

async def main():
    async with Emulator(rate_limit=None) as emu:
        customer = emu.add_customer(quota_bytes=10**13)
        study = emu.add_study(customer)
        print(json.dumps({"base_url": emu.base_url, "api_key": emu.api_key,
                          "customer": customer, "study": study}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def _child(concurrency: int, server: dict[str, str], path: str) -> None:
    import psutil

    from bigmind_async import AsyncBigMind

    process = psutil.Process()
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    async def run() -> float:
        async with AsyncBigMind(
            server["api_key"], server["base_url"], rate_limit=None, timeout=600
        ) as client:
            await client.reports.attach(
                server["customer"], server["study"], b"warm up", filename="w.txt"
            )
            baseline = process.memory_info().rss
            nonlocal peak
            peak = baseline
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    client.reports.attach(server["customer"], server["study"], path)
                    for _ in range(concurrency)
                )
            )
            elapsed = time.perf_counter() - started
            stop.set()
            sampler.join()
            growth = (peak - baseline) / 2**20
            print(json.dumps({"growth_mib": growth, "seconds": elapsed}))
            return growth

    asyncio.run(run())


def _make_file(directory: str) -> str:
    path = os.path.join(directory, "report.txt")
    line = b"0123456789abcdef" * 4 + b"\n"
    with open(path, "wb") as handle:
        handle.write(line * (SIZE // len(line)))
        handle.write(b"x" * (SIZE - handle.tell()))
    return path


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4])
        return 0
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        info = server.stdout.readline()
        with tempfile.TemporaryDirectory() as directory:
            path = _make_file(directory)
            failed = False
            for concurrency, target in TARGETS_MIB.items():
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(concurrency), info, path],
                    capture_output=True, text=True, env=env, check=True,
                )  # fmt: skip
                result = json.loads(out.stdout.strip().splitlines()[-1])
                mib = SIZE * concurrency / 2**20
                verdict = "ok" if result["growth_mib"] < target else "OVER TARGET"
                failed |= result["growth_mib"] >= target
                print(
                    f"{concurrency:>2} x 25 MiB upload: peak RSS growth "
                    f"{result['growth_mib']:.2f} MiB (target < {target:g} MiB, {verdict}); "
                    f"{mib / result['seconds']:.0f} MiB/s"
                )
        return 1 if failed else 0
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
