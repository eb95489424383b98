"""``bigmind batch attach MANIFEST.csv``: attach many, with a progress bar, journal and summary.

The manifest streams: it is counted once (for the progress bar's total and ETA), then read
row by row while the batch runs, so its size does not matter. A bad row (missing column value,
bad UID, unknown report type, missing file...) becomes a failed outcome naming its line, and
the other rows still run. The exit code is 0 when every row ended attached (or skipped because
the journal shows it done), 1 otherwise.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from bigmind_async._batch import attach_many, is_fatal
from bigmind_async._cli._app import CliError, CliState, run_async
from bigmind_async._journal import Journal
from bigmind_async._manifest import ManifestError, ManifestRow, count_rows, read_manifest
from bigmind_async._models import AttachJob, AttachOutcome
from bigmind_async.errors import ValidationError

__all__ = ["batch"]

OUTCOME_COLUMNS = (
    "line",
    "status",
    "customer_id",
    "study_uid",
    "file",
    "title",
    "report_type",
    "report_id",
    "error_code",
    "error_status",
    "error_message",
    "request_id",
)


class RateColumn(ProgressColumn):
    """Jobs finished per second (rich's own speed estimate over its recent window)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- jobs/s" if speed is None else f"{speed:5.1f} jobs/s", style="magenta")


@attrs.define
class _Tally:
    attached: int = 0
    skipped: int = 0
    failed: int = 0
    by_code: collections.Counter[str] = attrs.field(factory=collections.Counter)
    failures: list[tuple[int | None, AttachOutcome]] = attrs.field(factory=list)
    fatal: str | None = None

    @property
    def total(self) -> int:
        return self.attached + self.skipped + self.failed

    def add(self, line: int | None, outcome: AttachOutcome) -> str:
        if outcome.ok:
            if outcome.skipped:
                self.skipped += 1
                return "skipped"
            self.attached += 1
            return "attached"
        self.failed += 1
        error = outcome.error
        self.by_code[error.code if error is not None else "UNKNOWN"] += 1
        if len(self.failures) < 20:
            self.failures.append((line, outcome))
        if self.fatal is None and is_fatal(error):
            self.fatal = str(error)
        return "failed"


def _outcome_row(line: int | None, status: str, outcome: AttachOutcome) -> dict[str, Any]:
    job = outcome.job
    error = outcome.error
    return {
        "line": line if line is not None else "",
        "status": status,
        "customer_id": job.customer_id,
        "study_uid": job.study_uid,
        "file": job.file if isinstance(job.file, str) else "",
        "title": job.title or "",
        "report_type": str(job.report_type),
        "report_id": outcome.report.report_id if outcome.report is not None else "",
        "error_code": error.code if error is not None else "",
        "error_status": error.status if error is not None and error.status is not None else "",
        "error_message": error.message if error is not None else "",
        "request_id": error.request_id if error is not None and error.request_id else "",
    }


@click.group()
def batch() -> None:
    """Attach many reports from a CSV manifest."""


@batch.command("attach")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1, max=256),
    default=8,
    show_default=True,
    help="Uploads in flight at once (the rate limit still applies).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite journal: a rerun skips done rows and never attaches a row twice.",
)
@click.option(
    "--outcomes",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write one CSV row per manifest row: line, status, report id or error.",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to let a crashed run's last uploads finish before reconciling them.",
)
def batch_attach(
    manifest: Path,
    concurrency: int,
    journal: Path | None,
    outcomes: Path | None,
    settle: float,
) -> int:
    """Attach every report listed in MANIFEST (CSV).

    Columns: customer_id, study_uid, file (required), title, report_type, is_primary, silent.
    A relative file is resolved against the manifest's directory.
    """
    state = click.get_current_context().find_object(CliState)
    assert state is not None
    rows = read_manifest(manifest)
    try:
        first = next(rows, None)  # header errors surface here, before anything is sent
    except ManifestError as exc:
        raise CliError(str(exc)) from None
    total = count_rows(manifest)
    out_handle: IO[str] | None = None
    writer: csv.DictWriter[str] | None = None
    if outcomes is not None:
        try:
            out_handle = outcomes.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--outcomes {str(outcomes)!r}: {exc.strerror or exc}") from None
        writer = csv.DictWriter(out_handle, fieldnames=OUTCOME_COLUMNS)
        writer.writeheader()
    try:
        tally, elapsed = run_async(
            _run(state, first, rows, total, concurrency, journal, settle, writer)
        )
    finally:
        if out_handle is not None:
            out_handle.close()
    _summary(state, tally, elapsed, journal, outcomes)
    if tally.fatal is not None:
        raise CliError(f"the batch stopped: {tally.fatal}")
    return 0 if tally.failed == 0 else 1


async def _run(
    state: CliState,
    first: ManifestRow | None,
    rows: Iterator[ManifestRow],
    total: int | None,
    concurrency: int,
    journal_path: Path | None,
    settle: float,
    writer: csv.DictWriter[str] | None,
) -> tuple[_Tally, float]:
    tally = _Tally()
    bad: collections.deque[ManifestRow] = collections.deque()
    lines: dict[int, int] = {}  # id(job) -> manifest line, for the jobs in flight

    def jobs() -> Iterator[AttachJob]:
        pending = [first] if first is not None else []
        for row in itertools.chain(pending, rows):
            if row.job is None:
                bad.append(row)
                continue
            lines[id(row.job)] = row.line
            yield row.job

    progress = Progress(
        TextColumn("[bold]attach[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=state.err,
        disable=state.json,
        transient=False,
    )

    def record(line: int | None, outcome: AttachOutcome) -> None:
        status = tally.add(line, outcome)
        row = _outcome_row(line, status, outcome)
        if writer is not None:
            writer.writerow(row)
        if state.json:
            state.print_json({k: v for k, v in row.items() if v != ""})
        progress.update(task, advance=1, ok=tally.attached + tally.skipped, failed=tally.failed)

    def drain_bad() -> None:
        while bad:
            row = bad.popleft()
            error = ValidationError(f"line {row.line}: {row.error}", status=None)
            record(row.line, AttachOutcome(job=row.placeholder_job(), error=error))

    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(state.client())
        journal = None
        if journal_path is not None:
            journal = await stack.enter_async_context(Journal(journal_path, settle_seconds=settle))
        start = time.monotonic()
        with progress:
            task = progress.add_task("attach", total=total, ok=0, failed=0)
            async for outcome in attach_many(
                client.reports, jobs(), concurrency=concurrency, journal=journal
            ):
                drain_bad()
                record(lines.pop(id(outcome.job), None), outcome)
            drain_bad()
        elapsed = time.monotonic() - start
    return tally, elapsed


def _summary(
    state: CliState,
    tally: _Tally,
    elapsed: float,
    journal: Path | None,
    outcomes: Path | None,
) -> None:
    rate = tally.total / elapsed if elapsed > 0 else 0.0
    if state.json:
        state.print_json(
            {
                "summary": {
                    "total": tally.total,
                    "attached": tally.attached,
                    "skipped": tally.skipped,
                    "failed": tally.failed,
                    "failedByCode": dict(tally.by_code),
                    "elapsedSeconds": round(elapsed, 3),
                    "jobsPerSecond": round(rate, 2),
                }
            }
        )
        return
    table = Table(title="Batch summary", title_justify="left", show_header=False)
    table.add_column("What", style="bold")
    table.add_column("Count", justify="right")
    table.add_row("Rows", str(tally.total))
    table.add_row("Attached", f"[green]{tally.attached}[/]")
    table.add_row("Skipped (already done per journal)", str(tally.skipped))
    table.add_row("Failed", f"[red]{tally.failed}[/]" if tally.failed else "0")
    for code, count in tally.by_code.most_common():
        table.add_row(f"  {code}", str(count))
    table.add_row("Elapsed", f"{elapsed:.1f} s")
    table.add_row("Throughput", f"{rate:.1f} rows/s")
    state.out.print(table)
    if tally.failures:
        failures = Table(title="Failures", title_justify="left")
        failures.add_column("Line", justify="right")
        failures.add_column("File", overflow="fold")
        failures.add_column("Error", overflow="fold")
        for line, outcome in tally.failures:
            failures.add_row(
                "-" if line is None else str(line),
                str(outcome.job.file) if isinstance(outcome.job.file, str) else "-",
                str(outcome.error),
            )
        state.out.print(failures)
        if tally.failed > len(tally.failures):
            more = tally.failed - len(tally.failures)
            where = f"; every row is in {outcomes}" if outcomes else "; see --outcomes"
            state.out.print(f"... and {more} more failures{where}")
    if journal is not None:
        state.out.print(f"Journal: {journal} (rerun the same command to resume)")
    if outcomes is not None:
        state.out.print(f"Outcomes: {outcomes}")
