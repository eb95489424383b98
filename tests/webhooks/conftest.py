"""Fixtures for the webhook tests."""

from __future__ import annotations

import pytest
from webhook_helpers import ATTACHED, DETACHED, envelope


@pytest.fixture
def attached_body() -> bytes:
    return envelope("dicom.report.attached", ATTACHED)


@pytest.fixture
def detached_body() -> bytes:
    return envelope("dicom.report.detached", DETACHED)
