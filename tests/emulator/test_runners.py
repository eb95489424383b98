"""The other ways to start the emulator: thread runner, pytest fixture, CLI, ``python -m``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bigmind_async.emulator import Emulator, FaultInjector, ThreadedEmulator, ThreadedFaults

from .helpers import PDF


def _get(url: str, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URLs built by the test
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class TestThreadedEmulator:
    def test_serves_from_its_own_thread(self) -> None:
        """Sync code can seed, inject faults and call the emulator; close stops the thread."""
        with ThreadedEmulator(rate_limit=None) as emu:
            customer = emu.add_customer()
            uid = emu.add_study(customer, modality="MR")
            url = f"{emu.base_url}/customers/{customer}/dicom-studies/{uid}"
            status, body = _get(url, emu.api_key)
            assert (status, body["data"]["study"]["modality"]) == (200, "MR")
            emu.faults.inject("error", status=503)
            assert _get(url, emu.api_key)[0] == 503
            assert emu.stats_snapshot()["faultsFired"] == {"error": 1}
            thread = emu._thread
            assert thread is not None
            assert thread.is_alive()
        assert not thread.is_alive()

    def test_blocking_on_the_loop_thread_is_refused(self) -> None:
        """Blocking calls made from the emulator's own loop thread raise instead of hanging."""
        with ThreadedEmulator() as emu:
            with pytest.raises(RuntimeError, match="loop thread"):
                emu.call(lambda _: emu.wait_webhooks_idle())
            assert emu.call(lambda inner: inner.add_customer()).startswith("pc_1_")

    def test_methods_run_on_the_loop_thread(self) -> None:
        """Seeding helpers are marshalled onto the loop thread."""
        seen: list[threading.Thread] = []
        with ThreadedEmulator() as emu:
            emu.call(lambda _: seen.append(threading.current_thread()))
            assert seen == [emu._thread]
            assert emu.add_customer(quota_bytes=5).startswith("pc_")

    @pytest.mark.parametrize(
        ("threaded", "original", "qualname"),
        [
            (ThreadedEmulator.add_study, Emulator.add_study, "ThreadedEmulator.add_study"),
            (ThreadedFaults.inject, FaultInjector.inject, "ThreadedFaults.inject"),
        ],
    )
    def test_marshalled_methods_keep_their_names_and_docs(
        self, threaded: Any, original: Any, qualname: str
    ) -> None:
        """A marshalled method is named after its threaded class and keeps the original doc."""
        assert (original.__name__, qualname, original.__doc__) == (
            threaded.__name__,
            threaded.__qualname__,
            threaded.__doc__,
        )

    def test_faults_are_injected_on_the_loop_thread(self) -> None:
        """emu.faults.* runs on the loop thread too."""
        seen: list[threading.Thread] = []
        with ThreadedEmulator() as emu:
            emu.faults.call(lambda _: seen.append(threading.current_thread()))
            fault = emu.faults.inject("delay", delay=0.01)
            assert [fault] == emu.faults.faults
            emu.faults.clear()
            assert ([], [emu._thread]) == (emu.faults.faults, seen)


class TestPytestPlugin:
    def test_sync_fixture(self, bigmind_emulator: ThreadedEmulator) -> None:
        """bigmind_emulator is a running emulator usable from a sync test."""
        customer = bigmind_emulator.add_customer()
        status, body = _get(
            f"{bigmind_emulator.base_url}/customers/{customer}/dicom-studies",
            bigmind_emulator.api_key,
        )
        assert (status, body["data"]["studies"]) == (200, [])

    async def test_async_test_can_use_it(self, bigmind_emulator: ThreadedEmulator) -> None:
        """The same fixture works from an async test (the server has its own loop)."""
        import aiohttp

        customer = bigmind_emulator.add_customer()
        url = f"{bigmind_emulator.base_url}/customers/{customer}/dicom-studies"
        async with aiohttp.ClientSession() as session:
            headers = {"X-API-Key": bigmind_emulator.api_key}
            async with session.get(url, headers=headers) as response:
                assert response.status == 200

    @pytest.mark.bigmind_emulator(seed="demo", rate_limit=None)
    def test_marker_configures_it(self, bigmind_emulator: ThreadedEmulator) -> None:
        """@pytest.mark.bigmind_emulator(...) passes its kwargs to the Emulator."""
        url = (
            f"{bigmind_emulator.base_url}/customers/{bigmind_emulator.demo_customer_id}"
            "/dicom-studies?limit=1"
        )
        status, body = _get(url, bigmind_emulator.api_key)
        assert (status, body["data"]["pagination"]["total"]) == (200, 60)

    def test_entry_point_is_declared(self) -> None:
        """pyproject declares the plugin under pytest11."""
        tomllib = pytest.importorskip("tomllib")
        pyproject = Path(__file__).parents[2] / "pyproject.toml"
        data = tomllib.loads(pyproject.read_text())
        plugins = data["project"]["entry-points"]["pytest11"]
        assert plugins == {"bigmind_emulator": "bigmind_async.emulator.pytest_plugin"}


def _bigmind_command() -> list[str]:
    script = shutil.which("bigmind")
    if script is not None:
        return [script]
    return [sys.executable, "-c", "from bigmind_async._cli import main; main()"]


@pytest.fixture
def served() -> Iterator[dict[str, str]]:
    """``bigmind emulator serve --port 0`` in a subprocess; yields the printed variables."""
    command = [*_bigmind_command(), "emulator", "serve", "--port", "0", "--no-rate-limit"]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        printed: dict[str, str] = {}
        assert proc.stdout is not None
        while "BIGMIND_CUSTOMER_ID" not in printed:
            line = proc.stdout.readline()
            assert line, "the emulator exited before printing its address"
            name, _, value = line.strip().partition("=")
            printed[name] = value
        yield printed
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


class TestServeCommand:
    def test_prints_base_url_and_key_and_serves(self, served: dict[str, str]) -> None:
        """serve prints BIGMIND_BASE_URL / BIGMIND_API_KEY; a GET with the key works."""
        base, key = served["BIGMIND_BASE_URL"], served["BIGMIND_API_KEY"]
        assert base.startswith("http://127.0.0.1:")
        assert base.endswith("/api/partner/v1")
        assert key.startswith("sk_live_")
        url = f"{base}/customers/{served['BIGMIND_CUSTOMER_ID']}/dicom-studies"
        status, body = _get(url, key)
        assert status == 200
        assert body["data"]["pagination"]["total"] >= 50
        assert _get(url)[0] == 401

    @pytest.mark.skipif(
        shutil.which("curl") is None or shutil.which("jq") is None or os.name != "posix",
        reason="needs curl, jq and a POSIX shell",
    )
    def test_documented_curl_workflow(self, served: dict[str, str], tmp_path: Path) -> None:
        """List one study, upload with -F, read .data.reportId, get the downloadUrl, fetch it
        without auth, delete: unchanged curl + jq against ``bigmind emulator serve``."""
        (tmp_path / "report.pdf").write_bytes(PDF)
        script = r"""
set -euo pipefail
AUTH="Authorization: Bearer $BIGMIND_API_KEY"
C="$BIGMIND_BASE_URL/customers/$BIGMIND_CUSTOMER_ID"
UID_=$(curl -sf -H "$AUTH" "$C/dicom-studies?limit=1" | jq -r '.data.studies[0].studyInstanceUid')
RID=$(curl -sf -H "$AUTH" -F "file=@report.pdf" -F "title=Radiology Report" \
      -F "reportType=radiology" "$C/dicom-studies/$UID_/reports" | jq -r '.data.reportId')
URL=$(curl -sf -H "$AUTH" "$C/reports/$RID" | jq -r '.data.downloadUrl')
curl -sf "$URL" -o downloaded.pdf
cmp report.pdf downloaded.pdf
curl -sf -X DELETE -H "$AUTH" "$C/reports/$RID" | jq -r '.data.detached'
"""
        result = subprocess.run(  # noqa: S603
            ["bash", "-c", script],  # noqa: S607 - bash from PATH
            cwd=tmp_path,
            env={**os.environ, **served},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (result.returncode, result.stdout.strip()) == (0, "true"), result.stderr


class TestModuleEntryPoints:
    def test_python_dash_m_serves(self) -> None:
        """``python -m bigmind_async.emulator --port 0`` prints its URL and stops on SIGTERM."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "bigmind_async.emulator", "--port", "0", "--seed", "none"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            base = proc.stdout.readline().strip().partition("=")[2]
            key = proc.stdout.readline().strip().partition("=")[2]
            assert _get(f"{base}/customers/pc_1_1/dicom-studies", key)[0] == 404
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
        assert proc.returncode == 0

    def test_cli_without_click_prints_install_hint(self) -> None:
        """Without click, ``bigmind`` says how to install the extra and exits 1."""
        code = (
            "import sys; sys.modules['click'] = None; from bigmind_async._cli import main; main()"
        )
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 1
        assert 'pip install "bigmind[cli]"' in result.stderr
