"""List studies (pagination, filters, validation) and get study (STUDY_NOT_FOUND rules)."""

from __future__ import annotations

import gc
import re

import aiohttp
import pytest
from aiohttp import web

from bigmind_async.emulator import Emulator

from .helpers import Env, auth, call, studies_url, study_url

STUDY_KEYS = {
    "studyInstanceUid", "entityId", "patientName", "patientId", "studyDescription",
    "studyDate", "modality", "bodyPart", "indexedAt", "reportCount",
}  # fmt: skip
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def _many(emu: Emulator, count: int) -> str:
    customer = emu.add_customer()
    for n in range(count):
        emu.add_study(customer, indexed_at=1_775_000_000 + n)
    return customer


class TestListStudies:
    async def test_shape_of_a_listed_study(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Every study has exactly the assumed camelCase keys; timestamps are ISO with ms + Z."""
        data = (await call(client, "GET", studies_url(emulator))).data
        assert len(data["studies"]) == 4
        for study in data["studies"]:
            assert set(study) == STUDY_KEYS
            if study["indexedAt"] is not None:
                assert ISO_MS.match(study["indexedAt"])
                assert study["entityId"].startswith("ent_")
            assert re.match(r"^\d{4}-\d{2}-\d{2}$", study["studyDate"])
        assert data["pagination"] == {"page": 1, "limit": 20, "total": 4, "totalPages": 1}

    async def test_unindexed_studies_are_listed_last_with_null_entity(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Unindexed studies appear (entityId and indexedAt null) after the indexed ones."""
        studies = (await call(client, "GET", studies_url(emulator))).data["studies"]
        last = studies[-1]
        assert emulator.unindexed_study_uid == last["studyInstanceUid"]
        assert (last["entityId"], last["indexedAt"]) == (None, None)
        assert all(s["entityId"] for s in studies[:-1])

    async def test_order_follows_new_and_newly_indexed_studies(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A study indexed or added after a listing takes its place in the next listing."""

        async def listed() -> list[str]:
            data = (await call(client, "GET", studies_url(emulator))).data
            return [s["studyInstanceUid"] for s in data["studies"]]

        first = await listed()
        emulator.emu.index_study(emulator.customer_id, emulator.unindexed_study_uid, 4e9)
        assert [emulator.unindexed_study_uid, *first[:-1]] == await listed()
        added = emulator.emu.add_study(emulator.customer_id, indexed_at=4e9 + 1)
        assert [added, emulator.unindexed_study_uid, *first[:-1]] == await listed()

    async def test_demo_seed_is_rich(self) -> None:
        """The demo seed has 50+ studies, several modalities and body parts, some unindexed."""
        async with Emulator(seed="demo") as emu, aiohttp.ClientSession() as s:
            url = f"{emu.base_url}/customers/{emu.demo_customer_id}/dicom-studies?limit=200"
            studies = (await call(s, "GET", url, headers=auth(emu.api_key))).data["studies"]
        assert len(studies) >= 50
        assert len({st["modality"] for st in studies}) >= 5
        assert len({st["bodyPart"] for st in studies}) >= 5
        assert 1 <= sum(st["entityId"] is None for st in studies) < 10
        assert sum(st["reportCount"] for st in studies) >= 2
        assert all(re.match(r"^[A-Z]+\^[A-Z]+$", st["patientName"]) for st in studies)

    async def test_demo_seed_is_deterministic(self) -> None:
        """Two demo seeds produce the same studies and the same user reports."""
        first, second = Emulator(seed="demo"), Emulator(seed="demo")
        try:
            assert first.demo_customer_id == second.demo_customer_id == "pc_1_1715600000000"
            studies = [
                [s.uid for s in emu._state.customers["pc_1_1715600000000"].studies.values()]
                for emu in (first, second)
            ]
            assert studies[0] == studies[1]
            assert len(studies[0]) == 60
            assert first.reports() == second.reports()
            assert len(first.reports()) == 3
        finally:
            await first.aclose()
            await second.aclose()


class TestPagination:
    @pytest.mark.parametrize(
        ("query", "expected_count", "expected_pagination"),
        [
            ("limit=1", 1, {"page": 1, "limit": 1, "total": 45, "totalPages": 45}),
            ("limit=200", 45, {"page": 1, "limit": 200, "total": 45, "totalPages": 1}),
            ("", 20, {"page": 1, "limit": 20, "total": 45, "totalPages": 3}),
            ("page=3", 5, {"page": 3, "limit": 20, "total": 45, "totalPages": 3}),
            ("page=4", 0, {"page": 4, "limit": 20, "total": 45, "totalPages": 3}),
            ("page=99999999&limit=7", 0, {"page": 99999999, "limit": 7, "total": 45,
                                          "totalPages": 7}),
        ],
    )  # fmt: skip
    async def test_pages(
        self,
        emulator: Env,
        client: aiohttp.ClientSession,
        query: str,
        expected_count: int,
        expected_pagination: dict[str, int],
    ) -> None:
        """Page sizes and page numbers slice the list; past the end is an empty page."""
        customer = await _many(emulator.emu, 45)
        data = (await call(client, "GET", f"{studies_url(emulator, customer)}?{query}")).data
        assert expected_count == len(data["studies"])
        assert expected_pagination == data["pagination"]

    async def test_pages_cover_everything_once_newest_first(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Walking the pages yields every study once, most recently indexed first."""
        customer = await _many(emulator.emu, 45)
        seen: list[str] = []
        for page in (1, 2, 3):
            url = f"{studies_url(emulator, customer)}?page={page}&limit=20"
            seen += [s["indexedAt"] for s in (await call(client, "GET", url)).data["studies"]]
        assert len(set(seen)) == 45
        assert sorted(seen, reverse=True) == seen

    async def test_totals_can_be_omitted(self, anonymous: aiohttp.ClientSession) -> None:
        """include_pagination_totals=False drops total and totalPages."""
        async with Emulator(include_pagination_totals=False) as emu:
            customer = await _many(emu, 3)
            url = f"{emu.base_url}/customers/{customer}/dicom-studies?limit=2"
            data = (await call(anonymous, "GET", url, headers=auth(emu.api_key))).data
        assert data["pagination"] == {"page": 1, "limit": 2}

    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ("limit=0", "limit", "must be between 1 and 200"),
            ("limit=201", "limit", "must be between 1 and 200"),
            ("limit=-5", "limit", "must be between 1 and 200"),
            ("limit=ten", "limit", "must be an integer"),
            ("limit=1.5", "limit", "must be an integer"),
            ("page=0", "page", "must be >= 1"),
            ("page=-1", "page", "must be >= 1"),
            ("page=x", "page", "must be an integer"),
            ("from=yesterday", "from", "must be an ISO 8601 date or date-time"),
            ("to=2026-13-45", "to", "must be an ISO 8601 date or date-time"),
        ],
    )
    async def test_bad_query_is_validation_failed(
        self, emulator: Env, client: aiohttp.ClientSession, query: str, field: str, message: str
    ) -> None:
        """Bad page/limit/from/to -> 400 VALIDATION_FAILED with [{"field", "message"}]."""
        reply = await call(client, "GET", f"{studies_url(emulator)}?{query}")
        error = reply.error(400, "VALIDATION_FAILED")
        assert [{"field": field, "message": message}] == error["details"]

    async def test_every_bad_field_is_reported(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Several bad parameters give one detail each."""
        reply = await call(client, "GET", f"{studies_url(emulator)}?page=0&limit=0&from=x")
        error = reply.error(400, "VALIDATION_FAILED")
        assert [d["field"] for d in error["details"]] == ["page", "limit", "from"]


class TestFilters:
    async def _uids(self, client: aiohttp.ClientSession, url: str) -> set[str]:
        return {s["studyInstanceUid"] for s in (await call(client, "GET", url)).data["studies"]}

    async def test_modality_and_body_part_are_case_insensitive_equality(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """modality / bodyPart match whole values, ignoring case."""
        ct, mr, cr = emulator.study_uids
        base = studies_url(emulator)
        assert {ct} | {emulator.unindexed_study_uid} == await self._uids(
            client, f"{base}?modality=ct"
        )
        assert {mr} == await self._uids(client, f"{base}?modality=MR")
        assert {cr} == await self._uids(client, f"{base}?bodyPart=knee")
        assert set() == await self._uids(client, f"{base}?bodyPart=KNE")
        assert {ct} == await self._uids(client, f"{base}?modality=CT&bodyPart=chest&to=2999-01-01")

    async def test_q_searches_name_id_and_description(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """q is a case-insensitive substring over patientName, patientId, studyDescription."""
        emu = emulator.emu
        customer = emu.add_customer()
        by_name = emu.add_study(customer, patient_name="DOE^JANE", patient_id="A1",
                                study_description="X")  # fmt: skip
        by_id = emu.add_study(customer, patient_name="ROE^RICH", patient_id="MRN-77-doe",
                              study_description="Y")  # fmt: skip
        by_text = emu.add_study(customer, patient_name="POE^EDGAR", patient_id="A3",
                                study_description="Shoulder, follow-up for Doe")  # fmt: skip
        emu.add_study(customer, patient_name="SMITH^ANN", patient_id="A4", study_description="Z")
        base = studies_url(emulator, customer)
        assert {by_name, by_id, by_text} == await self._uids(client, f"{base}?q=dOe")
        assert {by_id} == await self._uids(client, f"{base}?q=mrn-77")
        assert set() == await self._uids(client, f"{base}?q=nobody")

    async def test_from_to_are_inclusive_on_indexed_at(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """from/to bound indexedAt inclusively; a bare to-date covers that whole day."""
        emu = emulator.emu
        customer = emu.add_customer()
        early = emu.add_study(customer, indexed_at="2026-04-01T10:00:00Z")
        middle = emu.add_study(customer, indexed_at="2026-04-02T10:11:12.000Z")
        late = emu.add_study(customer, indexed_at="2026-04-03T23:59:00Z")
        unindexed = emu.add_study(customer, indexed=False)
        base = studies_url(emulator, customer)
        everything = await self._uids(client, base)
        assert {early, middle, late, unindexed} == everything
        exact = f"{base}?from=2026-04-02T10:11:12.000Z&to=2026-04-02T10:11:12Z"
        assert {middle} == await self._uids(client, exact)
        assert {middle, late} == await self._uids(client, f"{base}?from=2026-04-02")
        assert {early, middle} == await self._uids(client, f"{base}?to=2026-04-02")
        offset = f"{base}?from=2026-04-02T12:11:12%2B02:00&to=2026-04-02T12:11:12%2B02:00"
        assert {middle} == await self._uids(client, offset)


class TestGetStudy:
    async def test_study_with_entity_and_report_count(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """get study returns study, entity {id, type, name} and reportCount."""
        emulator.emu.add_user_report(emulator.customer_id, emulator.study_uid, b"note", "n.txt")
        data = (await call(client, "GET", study_url(emulator))).data
        assert {"study", "entity", "reportCount"} == set(data)
        assert set(data["study"]) == STUDY_KEYS
        assert emulator.study_uid == data["study"]["studyInstanceUid"]
        assert {"id": data["study"]["entityId"], "type": "patient", "name": "DOE^JANE"} == data[
            "entity"
        ]
        assert (data["reportCount"], data["study"]["reportCount"]) == (1, 1)

    async def test_unknown_and_unindexed_give_byte_identical_not_found(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """STUDY_NOT_FOUND has the same bytes for an unknown and an unindexed study."""
        unknown = await call(client, "GET", study_url(emulator, "1.2.3.4.5"))
        unindexed = await call(client, "GET", study_url(emulator, emulator.unindexed_study_uid))
        unknown.error(404, "STUDY_NOT_FOUND")
        unindexed.error(404, "STUDY_NOT_FOUND")
        assert unknown.raw == unindexed.raw
        assert unknown.headers["X-Request-Id"] != unindexed.headers["X-Request-Id"]

    async def test_not_found_keeps_no_request_alive(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Repeated STUDY_NOT_FOUND answers leave no request (or its frames) behind."""

        def live_requests() -> int:
            gc.collect()
            return sum(isinstance(o, web.BaseRequest) for o in gc.get_objects())

        (await call(client, "GET", study_url(emulator, "1.2.3.4.5"))).error(404, "STUDY_NOT_FOUND")
        before = live_requests()
        for n in range(20):
            reply = await call(client, "GET", study_url(emulator, f"1.2.3.4.{n}"))
            reply.error(404, "STUDY_NOT_FOUND")
        assert before == live_requests()

    async def test_indexing_makes_a_study_visible(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """index_study turns an unindexed study into a found one with an entity."""
        emulator.emu.index_study(emulator.customer_id, emulator.unindexed_study_uid)
        reply = await call(client, "GET", study_url(emulator, emulator.unindexed_study_uid))
        assert reply.data["entity"]["id"].startswith("ent_")

    async def test_one_entity_per_patient(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A patient's studies share one entity, whether indexed when added or later."""
        emu, customer = emulator.emu, emulator.customer_id
        first = emu.add_study(customer, patient_id="P-77")
        later = emu.add_study(customer, patient_id="P-77", indexed=False)
        other = emu.add_study(customer, patient_id="P-78")
        entity = emu.index_study(customer, later)

        async def entity_of(uid: str) -> str:
            return str((await call(client, "GET", study_url(emulator, uid))).data["entity"]["id"])

        assert [entity, entity] == [await entity_of(first), await entity_of(later)]
        assert entity != await entity_of(other)

    @pytest.mark.parametrize(
        "uid", ["1..2", "1.2.", ".1.2", "1.2.a", "1" * 65, "1.2.3-4", "1.2 .3"]
    )
    async def test_malformed_uid_is_validation_failed(
        self, emulator: Env, client: aiohttp.ClientSession, uid: str
    ) -> None:
        """A malformed study UID -> 400 VALIDATION_FAILED on field studyInstanceUid."""
        reply = await call(client, "GET", study_url(emulator, uid))
        error = reply.error(400, "VALIDATION_FAILED")
        assert [d["field"] for d in error["details"]] == ["studyInstanceUid"]

    async def test_sixty_four_character_uid_is_well_formed(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A 64-character UID passes the format check (and is then just not found)."""
        uid = "1." + "2" * 62
        (await call(client, "GET", study_url(emulator, uid))).error(404, "STUDY_NOT_FOUND")

    async def test_unknown_customer(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """An unknown customer id -> 404 CUSTOMER_NOT_FOUND (checked before the study)."""
        reply = await call(client, "GET", study_url(emulator, "1..2", "pc_1_404"))
        reply.error(404, "CUSTOMER_NOT_FOUND")
