"""Fixtures for the sync facade: a threaded emulator (its own loop thread) and a client.

The emulator lives for the module (starting one costs more than most tests here); each test
gets its own customer with five indexed studies, so tests never see each other's reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from bigmind_async.emulator import ThreadedEmulator
from bigmind_sync import BigMind

#: Small, valid report contents (the type is read from the leading bytes).
TXT = b"Findings: no acute abnormality.\n"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@dataclass
class SyncEnv:
    """A running threaded emulator and one customer of its default partner.

    Attributes:
        emu: The ``ThreadedEmulator``.
        customer_id: The customer.
        study_uids: Five indexed studies (CT, MR, CT, CR, CT).
    """

    emu: ThreadedEmulator
    customer_id: str
    study_uids: list[str] = field(default_factory=list)

    @property
    def study_uid(self) -> str:
        return self.study_uids[0]

    def client(self, **kwargs: object) -> BigMind:
        """A sync client of this emulator: no client-side limit, no backoff sleeps."""
        options: dict[str, object] = {"rate_limit": None, "backoff_base": 0, "max_retries": 2}
        options.update(kwargs)
        return BigMind(api_key=self.emu.api_key, base_url=self.emu.base_url, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def threaded_emulator() -> Iterator[ThreadedEmulator]:
    """One emulator (no server-side rate limit) for the module, on its own thread."""
    with ThreadedEmulator(rate_limit=None) as emu:
        yield emu


@pytest.fixture
def env(threaded_emulator: ThreadedEmulator) -> Iterator[SyncEnv]:
    """A fresh customer with five indexed studies; faults are cleared afterwards."""
    emu = threaded_emulator
    customer_id = emu.add_customer()
    result = SyncEnv(emu, customer_id)
    for modality in ("CT", "MR", "CT", "CR", "CT"):
        result.study_uids.append(emu.add_study(customer_id, modality=modality))
    yield result
    emu.faults.clear()


@pytest.fixture
def client(env: SyncEnv) -> Iterator[BigMind]:
    """A sync client, closed after the test (its portal thread must be gone by then)."""
    with env.client() as sync_client:
        yield sync_client
    assert sync_client.is_closed
