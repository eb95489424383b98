"""client.studies against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bigmind_async import (
    AsyncBigMind,
    CustomerNotFoundError,
    InvalidAPIKeyError,
    StudyDetail,
    StudyNotFoundError,
    TrialExpiredError,
    ValidationError,
)


class TestList:
    async def test_lists_indexed_and_unindexed(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Every study, with unindexed ones having no entity."""
        studies = [s async for s in client.studies.list(emulator.customer_id)]
        assert 4 == len(studies)
        unindexed = [s for s in studies if not s.is_indexed]
        assert [emulator.unindexed_study_uid] == [s.study_instance_uid for s in unindexed]

    async def test_filters(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """modality, body_part and q filter on the server."""
        mr = [s async for s in client.studies.list(emulator.customer_id, modality="MR")]
        knee = [s async for s in client.studies.list(emulator.customer_id, body_part="KNEE")]
        smith = [s async for s in client.studies.list(emulator.customer_id, q="SMITH^JOHN")]
        assert (["MR"], ["KNEE"], ["SMITH^JOHN"]) == (
            [s.modality for s in mr], [s.body_part for s in knee],
            [s.patient_name for s in smith],
        )  # fmt: skip

    async def test_indexed_window(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """indexed_from in the future finds nothing; in the past finds the indexed ones."""
        now = datetime.now(timezone.utc)
        later = client.studies.list(emulator.customer_id, indexed_from=now + timedelta(days=1))
        earlier = client.studies.list(emulator.customer_id, indexed_from=now - timedelta(days=1))
        assert (0, 3) == (len(await later.to_list()), len(await earlier.to_list()))

    async def test_bad_page_size_sends_nothing(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """page_size outside 1..200 is refused at once."""
        with pytest.raises(ValidationError, match="page_size"):
            client.studies.list(emulator.customer_id, page_size=500)
        assert 0 == emulator.emu.stats.requests_by_route["list_studies"]

    async def test_unknown_customer(self, client) -> None:  # type: ignore[no-untyped-def]
        """CUSTOMER_NOT_FOUND maps by code."""
        with pytest.raises(CustomerNotFoundError) as info:
            await client.studies.list("pc_999_1").to_list()
        assert ("CUSTOMER_NOT_FOUND", 404) == (info.value.code, info.value.status)


class TestGet:
    async def test_get(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A study with its patient entity."""
        detail = await client.studies.get(emulator.customer_id, emulator.study_uid)
        assert isinstance(detail, StudyDetail)
        assert (emulator.study_uid, "patient", 0) == (
            detail.study.study_instance_uid, detail.entity.type if detail.entity else None,
            detail.report_count,
        )  # fmt: skip

    async def test_unindexed_is_not_found(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """STUDY_NOT_FOUND for unindexed and unknown studies alike."""
        for uid in (emulator.unindexed_study_uid, "1.2.3.4.5"):
            with pytest.raises(StudyNotFoundError) as info:
                await client.studies.get(emulator.customer_id, uid)
            assert 404 == info.value.status

    async def test_raw_response(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """with_raw_response gives status, headers and request id next to the parsed value."""
        raw = await client.with_raw_response.studies.get(emulator.customer_id, emulator.study_uid)
        assert (200, 1) == (raw.status, raw.attempts)
        assert raw.request_id == raw.headers["X-Request-Id"]
        assert emulator.study_uid == raw.parsed.study.study_instance_uid


class TestAuthErrors:
    async def test_wrong_key(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """INVALID_API_KEY is an AuthenticationError, never retried."""
        async with AsyncBigMind("sk_live_wrong", emulator.base_url) as client:
            with pytest.raises(InvalidAPIKeyError) as info:
                await client.studies.get(emulator.customer_id, emulator.study_uid)
        assert ("INVALID_API_KEY", 401) == (info.value.code, info.value.status)
        assert 1 == emulator.emu.stats.requests_by_route["get_study"]

    async def test_revoked_key(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """A revoked key is INVALID_API_KEY too."""
        emulator.emu.revoke_key(emulator.api_key)
        async with AsyncBigMind(emulator.api_key, emulator.base_url) as client:
            with pytest.raises(InvalidAPIKeyError):
                await client.studies.get(emulator.customer_id, emulator.study_uid)

    async def test_trial_expired(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """TRIAL_EXPIRED is a PermissionDeniedError with its code."""
        emulator.emu.set_partner_status(emulator.emu.partner, trial_expired=True)
        async with AsyncBigMind(emulator.api_key, emulator.base_url) as client:
            with pytest.raises(TrialExpiredError) as info:
                await client.studies.get(emulator.customer_id, emulator.study_uid)
        assert ("TRIAL_EXPIRED", 403) == (info.value.code, info.value.status)

    async def test_server_validation_failed(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """VALIDATION_FAILED keeps the per-field details (a limit our checks would refuse)."""
        from bigmind_async._transport import path_for

        with pytest.raises(ValidationError) as info:
            await client._core.transport.request(
                "GET", path_for("customers", emulator.customer_id, "dicom-studies"),
                params=[("limit", "500")], options=client._options,
            )  # fmt: skip
        assert (400, ["limit"]) == (info.value.status, info.value.fields)
