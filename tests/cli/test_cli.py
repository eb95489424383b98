"""The ``bigmind`` CLI in subprocesses against ``bigmind emulator serve``: exit codes, output."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bigmind_async._demo import make_pdf

pytestmark = pytest.mark.timeout(90)


@attrs.frozen
class Server:
    """A ``bigmind emulator serve`` subprocess and what it printed."""

    process: subprocess.Popen[str]
    base_url: str
    api_key: str
    customer_id: str


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    return subprocess.run(  # noqa: S603 - our own CLI, this interpreter
        [sys.executable, "-m", "bigmind_async._cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else {**os.environ},
        check=False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """``bigmind emulator serve --port 0`` with the demo seed and no rate limit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bigmind_async._cli", "emulator", "serve", "--port", "0",
         "--seed", "demo", "--no-rate-limit"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        values: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while len(values) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            name, _, value = line.strip().partition("=")
            values[name] = value
        assert set(values) == {"BIGMIND_BASE_URL", "BIGMIND_API_KEY", "BIGMIND_CUSTOMER_ID"}
        yield Server(
            process,
            values["BIGMIND_BASE_URL"],
            values["BIGMIND_API_KEY"],
            values["BIGMIND_CUSTOMER_ID"],
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, str]:
    """The environment a user would export after ``emulator serve``."""
    return {
        **os.environ,
        "BIGMIND_BASE_URL": server.base_url,
        "BIGMIND_API_KEY": server.api_key,
    }


@pytest.fixture(scope="module")
def study_uids(server: Server, env: dict[str, str]) -> list[str]:
    """Indexed demo studies, read through ``--json studies list``."""
    result = _cli("--json", "studies", "list", server.customer_id, "--all", env=env)
    assert result.returncode == 0, result.stderr
    studies = json.loads(result.stdout)
    return [s["studyInstanceUid"] for s in studies if s["entityId"] is not None]


def _one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return str(lines[0])


class TestReports:
    def test_attach_list_get_download_detach(
        self, server: Server, env: dict[str, str], study_uids: list[str], tmp_path: Path
    ) -> None:
        """The single-report workflow, each step its own process; bytes round-trip."""
        pdf = tmp_path / "cli-report.pdf"
        pdf.write_bytes(make_pdf(["CLI test report"]))
        study = study_uids[0]
        attached = _cli("--json", "reports", "attach", server.customer_id, study, str(pdf),
                        "--title", "CLI report", "--type", "radiology", env=env)  # fmt: skip
        assert attached.returncode == 0, attached.stderr
        report = json.loads(attached.stdout)
        assert (report["title"], report["reportType"]) == ("CLI report", "radiology")
        report_id = report["reportId"]

        listed = _cli("--json", "reports", "list", server.customer_id, study, env=env)
        assert report_id in {r["reportId"] for r in json.loads(listed.stdout)}

        got = _cli("--json", "reports", "get", server.customer_id, report_id, env=env)
        assert json.loads(got.stdout)["downloadUrl"].startswith("http://127.0.0.1:")

        out = tmp_path / "downloaded.pdf"
        downloaded = _cli("reports", "download", server.customer_id, report_id, "-o", str(out),
                          env=env)  # fmt: skip
        assert downloaded.returncode == 0, downloaded.stderr
        assert out.read_bytes() == pdf.read_bytes()
        assert hashlib.sha256(pdf.read_bytes()).hexdigest() in downloaded.stdout

        detached = _cli("reports", "detach", server.customer_id, report_id, env=env)
        assert detached.returncode == 0
        assert f"Detached {report_id}" in detached.stdout
        again = _cli("reports", "get", server.customer_id, report_id, env=env)
        assert again.returncode == 1
        line = _one_line_error(again)
        assert "REPORT_NOT_FOUND" in line
        assert "request req_" in line

    def test_human_output_is_a_table(
        self, server: Server, env: dict[str, str], study_uids: list[str]
    ) -> None:
        """Without --json, studies come as a table with full UIDs."""
        result = _cli("studies", "list", server.customer_id, "--limit", "3", env=env)
        assert result.returncode == 0, result.stderr
        assert "Study UID" in result.stdout
        assert "3 studies" in result.stdout


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["reports", "attach", "pc_1", "1.2.3", "/no/such/file.pdf"], "'FILE'"),
            (["reports", "attach", "pc_1"], "Missing argument 'STUDY_UID'"),
            (["reports", "list", "pc_1", "not-a-uid"], "study_uid"),
            (["reports", "attach", "pc_1", "1.2.3", __file__, "--type", "memo"], "'--type'"),
            (["batch", "attach", "/no/such/manifest.csv"], "'MANIFEST'"),
        ],
    )
    def test_one_line_error(self, env: dict[str, str], args: list[str], expected: str) -> None:
        """Bad arguments: one line naming the argument, no traceback, non-zero exit."""
        result = _cli(*args, env=env)
        assert result.returncode != 0
        assert expected in _one_line_error(result)

    def test_missing_key(self, server: Server) -> None:
        """No key anywhere: a one-line configuration error before any request."""
        bare = {k: v for k, v in os.environ.items() if not k.startswith("BIGMIND_")}
        result = _cli("--base-url", server.base_url, "reports", "list", "pc_1", "1.2.3",
                      env=bare)  # fmt: skip
        assert result.returncode == 1
        assert "BIGMIND_API_KEY" in _one_line_error(result)

    def test_wrong_key_shows_code_and_request_id(self, server: Server) -> None:
        """A typed API error prints its code, message, status and request id."""
        result = _cli("--base-url", server.base_url, "--api-key", "sk_live_" + "0" * 32,
                      "studies", "get", server.customer_id, "1.2.3")  # fmt: skip
        line = _one_line_error(result)
        assert result.returncode == 1
        assert "[INVALID_API_KEY]" in line
        assert "status 401" in line
        assert "request " in line

    def test_json_errors_are_json(self, server: Server, env: dict[str, str]) -> None:
        """With --json, the error line is a JSON object with the code and request id."""
        result = _cli("--json", "studies", "get", server.customer_id, "1.2.3.4", env=env)
        assert result.returncode == 1
        error = json.loads(_one_line_error(result))["error"]
        assert error["code"] == "STUDY_NOT_FOUND"
        assert error["requestId"]

    def test_bad_manifest_header(self, env: dict[str, str], tmp_path: Path) -> None:
        """A manifest whose header is wrong is one line naming the column."""
        manifest = tmp_path / "m.csv"
        manifest.write_text("customer_id,study,file\n", encoding="utf-8")
        result = _cli("batch", "attach", str(manifest), env=env)
        assert result.returncode == 1
        assert "unknown column 'study'" in _one_line_error(result)


class TestBatch:
    def test_batch_with_bad_rows(
        self, server: Server, env: dict[str, str], study_uids: list[str], tmp_path: Path
    ) -> None:
        """Good rows attach; bad rows fail naming their line; exit 1; outcomes CSV written."""
        files = tmp_path / "reports"
        files.mkdir()
        rows = [["customer_id", "study_uid", "file", "title", "report_type", "is_primary",
                 "silent"]]  # fmt: skip
        for n in range(6):
            (files / f"r{n}.txt").write_text(f"batch cli report {n}\n", encoding="utf-8")
            rows.append([server.customer_id, study_uids[n % 3], f"reports/r{n}.txt",
                         f"Batch {n}", "lab", "false", "true"])  # fmt: skip
        rows.insert(3, [server.customer_id, "1.2.bad", "reports/r0.txt", "Bad", "lab", "", ""])
        rows.insert(5, [server.customer_id, study_uids[0], "reports/missing.txt", "", "", "", ""])
        rows.append([server.customer_id, study_uids[0], "reports/r1.txt", "T", "memo", "", ""])
        rows.append([server.customer_id, study_uids[0], "reports/r1.txt", "T", "lab", "maybe", ""])
        manifest = tmp_path / "manifest.csv"
        with manifest.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        outcomes = tmp_path / "outcomes.csv"
        journal = tmp_path / "journal.sqlite"

        result = _cli("batch", "attach", str(manifest), "--journal", str(journal),
                      "--outcomes", str(outcomes), "--concurrency", "3", env=env)  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        for line in ("line 4", "line 6", "line 10", "line 11"):
            assert line in result.stdout
        with outcomes.open(newline="", encoding="utf-8") as handle:
            written = list(csv.DictReader(handle))
        by_line = {int(row["line"]): row for row in written}
        assert sorted(by_line) == list(range(2, 12))
        assert {n for n, row in by_line.items() if row["status"] == "failed"} == {4, 6, 10, 11}
        assert all(row["report_id"].startswith("alf_") for row in written
                   if row["status"] == "attached")  # fmt: skip
        assert "study_uid" in by_line[4]["error_message"]
        assert "missing.txt" in by_line[6]["error_message"]
        assert "report_type" in by_line[10]["error_message"]
        assert "is_primary" in by_line[11]["error_message"]

        rerun = _cli("--json", "batch", "attach", str(manifest), "--journal", str(journal),
                     env=env)  # fmt: skip
        assert rerun.returncode == 1
        lines = [json.loads(line) for line in rerun.stdout.splitlines()]
        summary = lines[-1]["summary"]
        assert (summary["attached"], summary["skipped"], summary["failed"]) == (0, 6, 4)
        assert {row["status"] for row in lines[:-1]} == {"skipped", "failed"}

    def test_all_good_exits_zero(
        self, server: Server, env: dict[str, str], study_uids: list[str], tmp_path: Path
    ) -> None:
        """A clean batch exits 0 and says so in the summary table."""
        manifest = tmp_path / "m.csv"
        lines = ["customer_id,study_uid,file"]
        for n in range(3):
            (tmp_path / f"ok{n}.txt").write_text(f"ok {n} {tmp_path}\n", encoding="utf-8")
            lines.append(f"{server.customer_id},{study_uids[1]},ok{n}.txt")
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = _cli("batch", "attach", str(manifest), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Batch summary" in result.stdout
        assert "Attached" in result.stdout


class TestDemoAndHelp:
    def test_demo_runs_and_exits_zero(self) -> None:
        """`bigmind demo` needs no key and no network, and finishes quickly."""
        bare = {k: v for k, v in os.environ.items() if not k.startswith("BIGMIND_")}
        started = time.monotonic()
        result = _cli("demo", env=bare)
        assert result.returncode == 0, result.stdout + result.stderr
        assert time.monotonic() - started < 30
        for text in ("bytes match", "Batch summary", "50 / 50", "Detached"):
            assert text in result.stdout
        assert "429 answers (from the emulator's stats)" in result.stdout

    def test_console_script_help(self) -> None:
        """The installed `bigmind` entry point lists every command group."""
        result = _cli("--help")
        assert result.returncode == 0
        for name in ("studies", "reports", "batch", "emulator", "demo"):
            assert name in result.stdout

    def test_install_hint_without_click(self, tmp_path: Path) -> None:
        """Without click (the `cli` extra), main() prints how to install it and exits 1."""
        blocker = tmp_path / "click.py"
        blocker.write_text("raise ModuleNotFoundError(\"No module named 'click'\")\n")
        result = subprocess.run(
            [sys.executable, "-c", "from bigmind_async._cli import main; main([])"],
            capture_output=True, text=True, timeout=30, check=False,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )  # fmt: skip
        assert result.returncode == 1
        assert 'pip install "bigmind[cli]"' in result.stderr
