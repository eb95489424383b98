"""Shared fixtures. ``emulator``: a started Partner API emulator in the test's own loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import settings

from bigmind_async.emulator import Emulator
from bigmind_async.emulator import pytest_plugin as _emulator_plugin

# Shared CPUs: how long one example takes is not the property under test, so no test has
# Hypothesis's 200 ms per-example deadline (a test that wants one sets it itself).
settings.register_profile("bigmind", deadline=None)
settings.load_profile("bigmind")


def pytest_configure(config: pytest.Config) -> None:
    # The plugin normally arrives through its pytest11 entry point; register it when the
    # installed metadata predates that entry point.
    if not config.pluginmanager.is_registered(_emulator_plugin):
        config.pluginmanager.register(_emulator_plugin, "bigmind_emulator_plugin")


@dataclass
class EmulatorEnv:
    """A running emulator (no rate limit) with one customer and a few studies.

    Attributes:
        emu: The ``Emulator``.
        base_url: ``emu.base_url``.
        api_key: ``emu.api_key``.
        customer_id: The seeded customer.
        study_uid: An indexed study (the first of ``study_uids``).
        study_uids: Three indexed studies: CT CHEST, MR HEAD, CR KNEE.
        unindexed_study_uid: A study uploaded but not indexed yet.
    """

    emu: Emulator
    customer_id: str
    study_uids: list[str] = field(default_factory=list)
    unindexed_study_uid: str = ""

    @property
    def base_url(self) -> str:
        return self.emu.base_url

    @property
    def api_key(self) -> str:
        return self.emu.api_key

    @property
    def study_uid(self) -> str:
        return self.study_uids[0]


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorEnv]:
    """A started ``Emulator(rate_limit=None)`` seeded with one customer and four studies."""
    async with Emulator(rate_limit=None, webhook_retry_delays=(0.05, 0.05)) as emu:
        customer_id = emu.add_customer()
        env = EmulatorEnv(emu, customer_id)
        for modality, body_part, name in (
            ("CT", "CHEST", "DOE^JANE"),
            ("MR", "HEAD", "SMITH^JOHN"),
            ("CR", "KNEE", "GARCIA^MARIA"),
        ):
            env.study_uids.append(
                emu.add_study(customer_id, modality=modality, body_part=body_part,
                              patient_name=name)
            )  # fmt: skip
        env.unindexed_study_uid = emu.add_study(customer_id, indexed=False)
        yield env
