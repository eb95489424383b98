"""The root ``bigmind`` group, its global options, and the one place errors become exit codes.

Every failure the user can cause ends as ONE line on stderr and a non-zero exit code, with no
traceback: a usage error (missing or bad argument: exit 2), an API error (its code, message,
HTTP status and request id: exit 1), a bad manifest or file (exit 1), Ctrl-C (exit 130).
With ``--json`` the line is a JSON object ``{"error": {...}}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click
from rich.console import Console

from bigmind_async._version import __version__
from bigmind_async.errors import BigMindError

if TYPE_CHECKING:
    from bigmind_async import AsyncBigMind

__all__ = ["CliState", "cli", "run", "run_async"]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_NO_ARGS_IS_HELP: type[click.UsageError] | None = getattr(
    click.exceptions, "NoArgsIsHelpError", None
)


class CliError(click.ClickException):
    """A one-line failure the CLI reports as ``bigmind: error: <message>`` (exit 1)."""

    exit_code = EXIT_FAILED


@attrs.define(kw_only=True)
class CliState:
    """What the global options resolved to; ``ctx.obj`` of every command.

    Attributes:
        api_key: ``--api-key`` / ``BIGMIND_API_KEY`` (``None``: the client reads the env).
        base_url: ``--base-url`` / ``BIGMIND_BASE_URL``.
        json: Print JSON instead of tables.
        rate_limit: Client-side requests per minute (``None``: off).
        timeout: Seconds per call.
        out: Where results go (stdout).
        err: Where progress and errors go (stderr).
    """

    api_key: str | None = attrs.field(repr=False, default=None)
    base_url: str | None = None
    json: bool = False
    rate_limit: float | None = 120
    timeout: float | None = None
    out: Console = attrs.field(factory=lambda: _console(stderr=False))
    err: Console = attrs.field(factory=lambda: _console(stderr=True))

    def client(self, **overrides: Any) -> AsyncBigMind:
        """A client built from the global options (raises ConfigurationError on a bad one)."""
        from bigmind_async import AsyncBigMind

        kwargs: dict[str, Any] = {"rate_limit": self.rate_limit}
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        kwargs.update(overrides)
        return AsyncBigMind(api_key=self.api_key, base_url=self.base_url, **kwargs)

    def print_json(self, value: Any) -> None:
        """One JSON document on stdout."""
        self.out.out(json.dumps(value, ensure_ascii=False, default=str), highlight=False)


#: Width of tables written to a file or a pipe (a terminal's own width is used otherwise).
PIPE_WIDTH = 160


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return console


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def _rate_limit(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is None:
        return None
    if value < 0:
        raise click.BadParameter("must be >= 0 (0 turns the client-side limiter off)")
    return None if value == 0 else value


@click.group(
    name="bigmind",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--api-key",
    envvar="BIGMIND_API_KEY",
    show_envvar=True,
    metavar="KEY",
    help="Partner API key (never printed).",
)
@click.option(
    "--base-url",
    envvar="BIGMIND_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="API base URL [default: https://app.bigmind.com/api/partner/v1].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--rate-limit",
    type=float,
    default=120,
    show_default=True,
    callback=_rate_limit,
    metavar="PER_MINUTE",
    help="Client-side request budget per minute, retries included (0: off).",
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per call.")
@click.version_option(__version__, prog_name="bigmind")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    base_url: str | None,
    as_json: bool,
    rate_limit: float | None,
    timeout: float | None,
) -> None:
    """BigMind Partner API: find DICOM studies, attach, fetch and detach reports.

    Try it with no key and no network: bigmind demo
    """
    ctx.obj = CliState(
        api_key=api_key or None,
        base_url=base_url or None,
        json=as_json,
        rate_limit=rate_limit,
        timeout=timeout,
    )


def _register() -> None:
    from bigmind_async._cli._batch import batch
    from bigmind_async._cli._demo import demo
    from bigmind_async._cli._emulator import emulator
    from bigmind_async._cli._resources import reports, studies

    for command in (studies, reports, batch, emulator, demo):
        cli.add_command(command)


_register()


def _error_line(
    as_json: bool, message: str, error: BigMindError | None = None, *, where: str = "bigmind"
) -> None:
    if as_json:
        payload: dict[str, Any] = {"message": message}
        if error is not None:
            payload = {
                "code": error.code,
                "status": error.status,
                "message": error.message,
                "requestId": error.request_id,
                "details": error.details,
            }
        sys.stderr.write(json.dumps({"error": payload}, default=str) + "\n")
    else:
        sys.stderr.write(f"{where}: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script's body)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Before the root group runs (a usage error in its own options) only argv can tell.
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    ctx: click.Context | None = None
    try:
        ctx = cli.make_context("bigmind", args)
        with ctx:
            result = cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        if _NO_ARGS_IS_HELP is not None and isinstance(exc, _NO_ARGS_IS_HELP):
            exc.show()  # a bare group prints its help (click >= 8.2 raises for it)
            return EXIT_USAGE
        where = exc.ctx.command_path if exc.ctx is not None else "bigmind"
        _error_line(_json_mode(ctx, as_json), exc.format_message(), where=where)
        return EXIT_USAGE
    except click.ClickException as exc:
        _error_line(_json_mode(ctx, as_json), exc.format_message())
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        _error_line(_json_mode(ctx, as_json), "interrupted")
        return EXIT_INTERRUPTED
    except BigMindError as exc:
        _error_line(_json_mode(ctx, as_json), str(exc), exc)
        return EXIT_FAILED
    return int(result) if isinstance(result, int) else EXIT_OK


def _json_mode(ctx: click.Context | None, fallback: bool) -> bool:
    state = ctx.obj if ctx is not None else None
    return state.json if isinstance(state, CliState) else fallback
