"""The emulator's world: partners and their keys, customers, studies, reports and quotas.

Plain dataclasses, rendered to the wire as plain dicts (partner-api.md "Shapes we assume").
Report bytes live in files under a storage directory, never in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import random
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bigmind_async.emulator._wire import iso8601, parse_iso8601

GIB = 1024**3
DEFAULT_QUOTA_BYTES = 500 * GIB
STUDY_UID_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")
STUDY_UID_MAX_LENGTH = 64
REPORT_TYPES = ("radiology", "consultation", "summary", "lab", "other")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: The UID root the emulator generates study UIDs under (a documented example root).
UID_ROOT = "1.2.826.0.1.3680043.8.498"


def is_valid_study_uid(uid: str) -> bool:
    """Digits and dots, at most 64 characters, no empty component."""
    return len(uid) <= STUDY_UID_MAX_LENGTH and STUDY_UID_RE.match(uid) is not None


def hash_secret(secret: str) -> str:
    """Keys are looked up by their SHA-256, so the plain secret is never a dict key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A fresh live secret: ``sk_live_`` and 32 hex characters."""
    return "sk_live_" + secrets.token_hex(16)


def new_report_id(now: float, rng: random.Random | None = None) -> str:
    """``alf_`` + 26 Crockford base32 characters: 48 bits of milliseconds, 80 random bits."""
    bits = secrets.randbits(80) if rng is None else rng.getrandbits(80)
    value = (int(now * 1000) & ((1 << 48) - 1)) << 80 | bits
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "alf_" + "".join(reversed(chars))


def to_timestamp(value: float | dt.datetime | str | None) -> float | None:
    """Accept a Unix timestamp, an aware/naive (UTC) datetime, or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, str):
        return parse_iso8601(value)[0]
    return float(value)


def to_date_string(value: dt.date | str | None, fallback: float) -> str:
    """A study date as ``YYYY-MM-DD`` (from a date, a string, or the fallback timestamp)."""
    if value is None:
        return dt.datetime.fromtimestamp(fallback, tz=dt.timezone.utc).date().isoformat()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(value).isoformat()


@dataclass
class Partner:
    """A partner account; every key of it shares one rate-limit bucket."""

    partner_id: int
    name: str
    active: bool = True
    trial_expired: bool = False
    key_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class ApiKey:
    """One API key of a partner; ``key_id`` looks like ``pk_1_1``."""

    key_id: str
    partner_id: int
    secret_hash: str
    revoked: bool = False


@dataclass(frozen=True)
class PartnerInfo:
    """What ``Emulator.add_partner`` hands back.

    Attributes:
        partner_id: The partner's numeric id (customer ids embed it: ``pc_<id>_...``).
        api_key: The partner's live secret.
        key_id: The key's id as reports show it in ``attachedByPartnerKeyId``.
    """

    partner_id: int
    api_key: str
    key_id: str


@dataclass
class Study:
    """A DICOM study of one customer; ``entity_id`` is ``None`` until indexed.

    ``reports`` holds the study's reports by id in the order they were added (``seq`` order);
    ``State.add_report`` / ``State.remove_report`` keep it in step with ``State.reports``.
    """

    uid: str
    customer_id: str
    entity_id: str | None
    patient_name: str
    patient_id: str
    study_description: str
    study_date: str
    modality: str
    body_part: str
    indexed_at: float | None
    seq: int
    reports: dict[str, Report] = field(default_factory=dict, repr=False, compare=False)

    @property
    def indexed(self) -> bool:
        return self.entity_id is not None


@dataclass
class Customer:
    """A customer of one partner, with its storage quota."""

    customer_id: str
    partner_id: int
    quota_bytes: int
    used_bytes: int
    studies: dict[str, Study] = field(default_factory=dict)
    entities: dict[str, str] = field(default_factory=dict)
    _listing: list[Study] | None = field(default=None, repr=False, compare=False)

    def listing(self) -> list[Study]:
        """The studies in listing order, sorted again only after ``studies_changed()``.

        Indexed studies first, most recently indexed first; then the unindexed ones, newest
        first.
        """
        if self._listing is None:
            self._listing = sorted(
                self.studies.values(),
                key=lambda s: (s.indexed_at is not None, s.indexed_at or 0.0, s.seq),
                reverse=True,
            )
        return self._listing

    def studies_changed(self) -> None:
        """Drop the cached listing order (a study was added or indexed)."""
        self._listing = None


@dataclass
class Report:
    """A report attached to a study; its bytes live at ``path``."""

    report_id: str
    customer_id: str
    study_uid: str
    entity_id: str | None
    title: str
    report_type: str
    is_primary: bool
    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: float
    attached_by_key_id: str | None
    path: Path
    seq: int


class Storage:
    """Report files on disk: uploads land in ``tmp/`` and are renamed into ``reports/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.reports_dir = root / "reports"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.reports_dir.mkdir(parents=True, exist_ok=True)

    def new_temp_path(self) -> Path:
        return self.tmp_dir / f"upload-{uuid.uuid4().hex}"

    def commit(self, temp_path: Path, report_id: str) -> Path:
        final = self.reports_dir / report_id
        temp_path.replace(final)
        return final

    @staticmethod
    def discard(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class State:
    """Everything the emulator knows. Not thread-safe: touch it from the server's loop."""

    def __init__(self, clock: Callable[[], float], storage: Storage) -> None:
        self.clock = clock
        self.storage = storage
        self.partners: dict[int, Partner] = {}
        self.keys_by_hash: dict[str, ApiKey] = {}
        self.keys_by_id: dict[str, ApiKey] = {}
        self.customers: dict[str, Customer] = {}
        self.reports: dict[str, Report] = {}
        self.comments: list[dict[str, Any]] = []
        self._partner_ids = itertools.count(1)
        self._entity_ids = itertools.count(1)
        self._patient_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._last_customer_ms = 0

    # -- partners and keys -------------------------------------------------------------------

    def add_partner(
        self,
        name: str | None = None,
        *,
        api_key: str | None = None,
        active: bool = True,
        trial_expired: bool = False,
    ) -> PartnerInfo:
        partner_id = next(self._partner_ids)
        partner = Partner(partner_id, name or f"Partner {partner_id}", active, trial_expired)
        self.partners[partner_id] = partner
        return self.add_key(partner_id, api_key)

    def add_key(self, partner_id: int, api_key: str | None = None) -> PartnerInfo:
        partner = self.partner(partner_id)
        secret = api_key or new_api_key()
        digest = hash_secret(secret)
        if digest in self.keys_by_hash:
            raise ValueError("that API key is already registered")
        key = ApiKey(f"pk_{partner_id}_{next(partner.key_counter)}", partner_id, digest)
        self.keys_by_hash[digest] = key
        self.keys_by_id[key.key_id] = key
        return PartnerInfo(partner_id, secret, key.key_id)

    def revoke_key(self, key: str) -> None:
        """Revoke by secret or by key id (``pk_...``)."""
        found = self.keys_by_id.get(key) or self.keys_by_hash.get(hash_secret(key))
        if found is None:
            raise KeyError(f"unknown API key or key id {key[:10]}...")
        found.revoked = True

    def partner(self, partner_id: int) -> Partner:
        try:
            return self.partners[partner_id]
        except KeyError:
            raise KeyError(f"unknown partner {partner_id}") from None

    def lookup_key(self, secret: str) -> ApiKey | None:
        return self.keys_by_hash.get(hash_secret(secret))

    # -- customers and studies ---------------------------------------------------------------

    def add_customer(
        self,
        customer_id: str | None = None,
        *,
        partner_id: int = 1,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        used_bytes: int = 0,
    ) -> str:
        self.partner(partner_id)
        if customer_id is None:
            millis = max(int(self.clock() * 1000), self._last_customer_ms + 1)
            self._last_customer_ms = millis
            customer_id = f"pc_{partner_id}_{millis}"
        if customer_id in self.customers:
            raise ValueError(f"customer {customer_id} already exists")
        if quota_bytes < 0 or used_bytes < 0:
            raise ValueError("quota_bytes and used_bytes must be >= 0")
        self.customers[customer_id] = Customer(customer_id, partner_id, quota_bytes, used_bytes)
        return customer_id

    def customer(self, customer_id: str) -> Customer:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise KeyError(f"unknown customer {customer_id}") from None

    def new_study_uid(self, rng_bits: int) -> str:
        return f"{UID_ROOT}.{10**19 + rng_bits % (9 * 10**19)}"

    def add_study(
        self,
        customer_id: str,
        study_uid: str,
        *,
        indexed: bool,
        modality: str,
        body_part: str,
        patient_name: str,
        patient_id: str | None,
        study_description: str | None,
        study_date: dt.date | str | None,
        indexed_at: float | dt.datetime | str | None,
    ) -> str:
        customer = self.customer(customer_id)
        if not is_valid_study_uid(study_uid):
            raise ValueError(f"not a valid DICOM UID: {study_uid!r}")
        if study_uid in customer.studies:
            raise ValueError(f"study {study_uid} already exists for {customer_id}")
        now = self.clock()
        if patient_id is None:
            patient_id = f"P-{next(self._patient_ids):04d}"
        entity_id: str | None = None
        indexed_ts: float | None = None
        if indexed:
            entity_id = self._entity_for(customer, patient_id)
            indexed_ts = to_timestamp(indexed_at)
            if indexed_ts is None:
                indexed_ts = now
        customer.studies[study_uid] = Study(
            uid=study_uid,
            customer_id=customer_id,
            entity_id=entity_id,
            patient_name=patient_name,
            patient_id=patient_id,
            study_description=study_description or f"{modality} {body_part}",
            study_date=to_date_string(study_date, indexed_ts if indexed_ts is not None else now),
            modality=modality,
            body_part=body_part,
            indexed_at=indexed_ts,
            seq=next(self._seq),
        )
        customer.studies_changed()
        return study_uid

    def index_study(self, customer_id: str, study_uid: str, indexed_at: float | None) -> str:
        """Mark an unindexed study as indexed (gives it an entity); returns the entity id."""
        customer = self.customer(customer_id)
        study = customer.studies[study_uid]
        if study.entity_id is None:
            study.entity_id = self._entity_for(customer, study.patient_id)
            study.indexed_at = self.clock() if indexed_at is None else indexed_at
            customer.studies_changed()
        return study.entity_id

    def _entity_for(self, customer: Customer, patient_id: str) -> str:
        """The customer's entity for a patient, made when the patient's first study is indexed."""
        entity = customer.entities.get(patient_id)
        if entity is None:
            entity = customer.entities[patient_id] = f"ent_{next(self._entity_ids)}"
        return entity

    # -- reports -----------------------------------------------------------------------------

    def add_report(
        self,
        *,
        customer: Customer,
        study: Study,
        temp_path: Path,
        title: str,
        report_type: str,
        is_primary: bool,
        file_name: str,
        mime_type: str,
        size_bytes: int,
        sha256: str,
        attached_by_key_id: str | None,
        created_at: float | None = None,
        rng: random.Random | None = None,
    ) -> Report:
        """Give the report a fresh id, move its file from ``temp_path`` into place, record it.

        The id's time part is ``created_at`` (default: now); its random part comes from ``rng``
        when given (a reproducible seed). The caller removes ``temp_path`` if this raises.
        """
        if not study.indexed:
            raise ValueError(f"study {study.uid} is not indexed yet; index it first")
        created = self.clock() if created_at is None else created_at
        report_id = new_report_id(created, rng)
        while report_id in self.reports:  # pragma: no cover - 80 random bits
            report_id = new_report_id(created, rng)
        path = self.storage.commit(temp_path, report_id)
        report = Report(
            report_id=report_id,
            customer_id=customer.customer_id,
            study_uid=study.uid,
            entity_id=study.entity_id,
            title=title,
            report_type=report_type,
            is_primary=is_primary,
            file_name=file_name,
            mime_type=mime_type,
            size_bytes=size_bytes,
            sha256=sha256,
            created_at=created,
            attached_by_key_id=attached_by_key_id,
            path=path,
            seq=next(self._seq),
        )
        self.reports[report_id] = report
        study.reports[report_id] = report
        customer.used_bytes += size_bytes
        return report

    def remove_report(self, report: Report) -> None:
        self.reports.pop(report.report_id, None)
        customer = self.customers.get(report.customer_id)
        if customer is not None:
            customer.used_bytes = max(0, customer.used_bytes - report.size_bytes)
            study = customer.studies.get(report.study_uid)
            if study is not None:
                study.reports.pop(report.report_id, None)
        self.storage.discard(report.path)

    # -- wire shapes -------------------------------------------------------------------------

    def study_json(self, study: Study) -> dict[str, Any]:
        return {
            "studyInstanceUid": study.uid,
            "entityId": study.entity_id,
            "patientName": study.patient_name,
            "patientId": study.patient_id,
            "studyDescription": study.study_description,
            "studyDate": study.study_date,
            "modality": study.modality,
            "bodyPart": study.body_part,
            "indexedAt": None if study.indexed_at is None else iso8601(study.indexed_at),
            "reportCount": len(study.reports),
        }

    @staticmethod
    def report_json(report: Report, *, include_sha256: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reportId": report.report_id,
            "studyInstanceUid": report.study_uid,
            "entityId": report.entity_id,
            "title": report.title,
            "reportType": report.report_type,
            "isPrimary": report.is_primary,
            "fileName": report.file_name,
            "mimeType": report.mime_type,
            "sizeBytes": report.size_bytes,
        }
        if include_sha256:
            body["sha256"] = report.sha256
        body["createdAt"] = iso8601(report.created_at)
        body["attachedByPartnerKeyId"] = report.attached_by_key_id
        return body
