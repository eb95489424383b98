"""Seeding helpers and the ``demo`` seed.

The demo seed is deterministic (a fixed ``random.Random`` seed): one customer, 60 studies over
several modalities and body parts with DICOM-style patient names, four of them not yet indexed,
and a few user-uploaded reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Final

from bigmind_async.emulator._state import DEFAULT_QUOTA_BYTES, REPORT_TYPES, State
from bigmind_async.emulator._upload import Sniffer, classify
from bigmind_async.emulator._wire import ApiError

DEMO_CUSTOMER_ID: Final = "pc_1_1715600000000"
DEMO_STUDY_COUNT: Final = 60
DEMO_UNINDEXED_COUNT: Final = 4
_DEMO_RANDOM_SEED: Final = 20260513

_PROTOCOLS: Final = (
    ("CT", "CHEST", "CT CHEST W/O CONTRAST"),
    ("CT", "CHEST", "CTA CHEST PE PROTOCOL"),
    ("CT", "HEAD", "CT HEAD W/O CONTRAST"),
    ("CT", "ABDOMEN", "CT ABDOMEN PELVIS W/ CONTRAST"),
    ("MR", "HEAD", "MRI BRAIN W/WO CONTRAST"),
    ("MR", "KNEE", "MRI KNEE RIGHT W/O CONTRAST"),
    ("MR", "LSPINE", "MRI LUMBAR SPINE W/O CONTRAST"),
    ("CR", "CHEST", "XR CHEST PA AND LATERAL"),
    ("CR", "KNEE", "XR KNEE 3 VIEWS"),
    ("DX", "HAND", "XR HAND LEFT 3 VIEWS"),
    ("US", "ABDOMEN", "US ABDOMEN COMPLETE"),
    ("US", "PELVIS", "US PELVIS TRANSVAGINAL"),
    ("MG", "BREAST", "MAMMO SCREENING BILATERAL"),
    ("PT", "WHOLEBODY", "PET/CT SKULL BASE TO MID THIGH"),
)
_FAMILY_NAMES: Final = (
    "DOE", "SMITH", "GARCIA", "NGUYEN", "MUELLER", "ROSSI", "TANAKA", "OKAFOR", "KOWALSKI",
    "SILVA", "JOHANSSON", "DUBOIS", "PATEL", "COHEN", "HANSEN", "MORENO", "IVANOVA", "KIM",
)  # fmt: skip
_GIVEN_NAMES: Final = (
    "JANE", "JOHN", "MARIA", "WEI", "ANNA", "LUCA", "YUKI", "CHIDI", "PIOTR", "ANA",
    "ERIK", "CLAIRE", "PRIYA", "DAVID", "SOFIE", "JAVIER", "OLGA", "MINJI",
)  # fmt: skip

_DEMO_PDF: Final = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


class Seeder:
    """Adds customers, studies and reports to a ``State`` with sensible defaults."""

    def __init__(self, state: State, rng: random.Random) -> None:
        self.state = state
        self.rng = rng

    def add_customer(
        self,
        customer_id: str | None = None,
        *,
        partner_id: int = 1,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        used_bytes: int = 0,
    ) -> str:
        return self.state.add_customer(
            customer_id, partner_id=partner_id, quota_bytes=quota_bytes, used_bytes=used_bytes
        )

    def new_study_uid(self) -> str:
        return self.state.new_study_uid(self.rng.getrandbits(64))

    def add_study(
        self,
        customer_id: str,
        study_uid: str | None = None,
        *,
        indexed: bool = True,
        modality: str = "CT",
        body_part: str = "CHEST",
        patient_name: str | None = None,
        patient_id: str | None = None,
        study_description: str | None = None,
        study_date: dt.date | str | None = None,
        indexed_at: float | dt.datetime | str | None = None,
    ) -> str:
        if patient_name is None:
            patient_name = f"{self.rng.choice(_FAMILY_NAMES)}^{self.rng.choice(_GIVEN_NAMES)}"
        return self.state.add_study(
            customer_id,
            study_uid or self.new_study_uid(),
            indexed=indexed,
            modality=modality,
            body_part=body_part,
            patient_name=patient_name,
            patient_id=patient_id,
            study_description=study_description,
            study_date=study_date,
            indexed_at=indexed_at,
        )

    def add_report(
        self,
        customer_id: str,
        study_uid: str,
        content: bytes,
        file_name: str,
        *,
        title: str | None = None,
        report_type: str = "other",
        is_primary: bool = False,
        attached_by_key_id: str | None = None,
        created_at: float | None = None,
        rng: random.Random | None = None,
    ) -> str:
        """Store a report directly (no HTTP, no quota check, no webhook); returns its id.

        The file is judged and named as the API does; the study must exist and be indexed
        (the API answers STUDY_NOT_FOUND for both).
        """
        customer = self.state.customer(customer_id)
        study = customer.studies.get(study_uid)
        if study is None:
            raise KeyError(f"unknown study {study_uid} for {customer_id}")
        if report_type not in REPORT_TYPES:
            raise ValueError(f"report_type must be one of {REPORT_TYPES}")
        if attached_by_key_id is not None and attached_by_key_id not in self.state.keys_by_id:
            raise KeyError(f"unknown partner key id {attached_by_key_id}")
        storage = self.state.storage
        temp_path = storage.new_temp_path()
        try:
            temp_path.write_bytes(content)
            sniffer = Sniffer()
            sniffer.feed(content)
            try:
                file = classify(file_name, title or "", sniffer, temp_path)
            except ApiError as exc:
                raise ValueError(exc.message) from None
            report = self.state.add_report(
                customer=customer,
                study=study,
                temp_path=temp_path,
                title=file.title,
                report_type=report_type,
                is_primary=is_primary,
                file_name=file.file_name,
                mime_type=file.mime_type,
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                attached_by_key_id=attached_by_key_id,
                created_at=created_at,
                rng=rng,
            )
        except BaseException:
            storage.discard(temp_path)
            raise
        return report.report_id

    def seed_demo(self) -> str:
        """Add the demo customer and its studies; returns the customer id (idempotent)."""
        if DEMO_CUSTOMER_ID in self.state.customers:
            return DEMO_CUSTOMER_ID
        rng = random.Random(_DEMO_RANDOM_SEED)
        customer_id = self.add_customer(DEMO_CUSTOMER_ID, partner_id=1)
        patients = [
            (f"{family}^{rng.choice(_GIVEN_NAMES)}", f"P-{10001 + n}")
            for n, family in enumerate(_FAMILY_NAMES)
        ]
        start = dt.datetime(2025, 6, 2, 7, 0, tzinfo=dt.timezone.utc)
        uids: list[str] = []
        for n in range(DEMO_STUDY_COUNT):
            name, patient_id = patients[n % len(patients)] if n < 36 else rng.choice(patients)
            modality, body_part, description = rng.choice(_PROTOCOLS)
            acquired = start + dt.timedelta(
                days=n * 5 + rng.randrange(0, 4), minutes=rng.randrange(0, 600)
            )
            indexed = n < DEMO_STUDY_COUNT - DEMO_UNINDEXED_COUNT
            indexed_at = acquired + dt.timedelta(minutes=rng.randrange(5, 240))
            uid = self.state.new_study_uid(rng.getrandbits(64))
            uids.append(
                self.state.add_study(
                    customer_id,
                    uid,
                    indexed=indexed,
                    modality=modality,
                    body_part=body_part,
                    patient_name=name,
                    patient_id=patient_id,
                    study_description=description,
                    study_date=acquired.date(),
                    indexed_at=indexed_at if indexed else None,
                )
            )
        customer = self.state.customer(customer_id)
        for uid, body, file_name, report_type in (
            (uids[0], b"Preliminary read: no acute cardiopulmonary process.\n", "prelim.txt",
             "radiology"),
            (uids[3], _DEMO_PDF, "outside-read.pdf", "consultation"),
            (uids[7], b"Lab panel within normal limits.\n", "labs.txt", "lab"),
        ):  # fmt: skip
            study = customer.studies[uid]
            created = (study.indexed_at or 0.0) + 3600.0
            self.add_report(
                customer_id,
                uid,
                body,
                file_name,
                report_type=report_type,
                title=file_name.rsplit(".", 1)[0].replace("-", " ").title(),
                created_at=created,
                rng=rng,
            )
        return customer_id
