"""Developer sessions: ``nox -s lint typecheck tests``; ``nox -s bench``; ``nox -s demo``.

Sessions run on the interpreter nox itself runs on (``python=None``), so CI with
``CI=true`` never fails for a missing interpreter. The package is installed the way
users install it (a built wheel, not the source tree).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the emulator over loopback HTTP."""
    session.install(".[test,cli,dicom]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on both packages and the typing test file."""
    session.install("-e", ".[test,cli,dicom]", "mypy>=1.11", "types-aiofiles")
    session.run("mypy")
    session.run("mypy", "--strict", "tests/typing_check.py", "tests/sync/typing_check.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against peers; quick by default, ``nox -s bench -- --full`` for the long run."""
    session.install(".[test,cli]", "httpx>=0.27", "requests>=2.31")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Install with the CLI extra and run the whole documented workflow on the emulator."""
    session.install(".[cli]")
    session.run("bigmind", "demo")
