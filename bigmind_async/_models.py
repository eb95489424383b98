"""The SDK's data: frozen attrs classes with snake_case fields.

Wire models (``Study``, ``Report``...) are built from the API's camelCase JSON by the one
converter in :mod:`bigmind_async._serialization`. Each keeps the fields it does not know in
``extra`` (camelCase keys, raw values), so a newer server never breaks an older SDK. Optional
fields the server leaves out are ``None``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Union

import attrs

if TYPE_CHECKING:
    from bigmind_async.errors import BigMindError

__all__ = [
    "AttachJob",
    "AttachOutcome",
    "Entity",
    "FileSource",
    "Pagination",
    "Report",
    "ReportAttachedData",
    "ReportDetachedData",
    "ReportDownload",
    "ReportType",
    "StorageBreakdown",
    "Study",
    "StudyDetail",
    "WebhookEvent",
]

#: What ``reports.attach`` takes as ``file``: a path, the bytes themselves, or a binary file object.
FileSource = Union[str, "os.PathLike[str]", bytes, IO[bytes]]


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False, eq=True, kw_only=True)


class ReportType(str, enum.Enum):
    """The ``reportType`` values the API accepts."""

    RADIOLOGY = "radiology"
    CONSULTATION = "consultation"
    SUMMARY = "summary"
    LAB = "lab"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class Study:
    """A DICOM study of a customer, as the API lists it.

    Attributes:
        study_instance_uid: The DICOM Study Instance UID.
        entity_id: The AI Lens patient entity; ``None`` while the study is not indexed yet
            (reports cannot be attached to it then).
        patient_name: DICOM-style name, e.g. ``DOE^JANE``.
        patient_id: The patient id in the customer's PACS.
        study_description: Free text, e.g. ``CT CHEST W/O``.
        study_date: The date the study was performed.
        modality: ``CT``, ``MR``, ``CR``...
        body_part: ``CHEST``, ``HEAD``...
        indexed_at: When AI Lens indexed the study (what ``indexed_from``/``indexed_to`` filter on).
        report_count: Reports attached to the study.
        extra: Wire fields this SDK version does not know, kept as sent.
    """

    study_instance_uid: str
    entity_id: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    study_description: str | None = None
    study_date: date | None = None
    modality: str | None = None
    body_part: str | None = None
    indexed_at: datetime | None = None
    report_count: int | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_indexed(self) -> bool:
        """Whether reports can be attached (the study has an AI Lens entity)."""
        return self.entity_id is not None


@attrs.frozen(kw_only=True)
class Entity:
    """The AI Lens entity (a patient) a study is linked to.

    Attributes:
        id: The entity id, e.g. ``ent_7``.
        type: The entity type, e.g. ``patient``.
        name: Display name.
        extra: Wire fields this SDK version does not know.
    """

    id: str
    type: str | None = None
    name: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class StudyDetail:
    """One study with its linked entity and report count (``studies.get``).

    Attributes:
        study: The study.
        entity: Its AI Lens entity, ``None`` when there is none.
        report_count: Reports attached to the study.
        extra: Wire fields this SDK version does not know.
    """

    study: Study
    entity: Entity | None = None
    report_count: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Pagination:
    """Where a page sits in a listing. Totals may be ``None``: the API may leave them out.

    Attributes:
        page: The page number, from 1.
        limit: The page size asked for.
        total: Items in the whole listing, when sent.
        total_pages: Pages in the whole listing, when sent.
        extra: Wire fields this SDK version does not know.
    """

    page: int
    limit: int
    total: int | None = None
    total_pages: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Report:
    """A report attached to a study.

    Attributes:
        report_id: ``alf_...``.
        study_instance_uid: The study it is attached to.
        entity_id: The patient entity it is linked to.
        title: Its title (the file name unless one was given).
        report_type: A :class:`ReportType`, or the raw string for a type this SDK does not know.
        is_primary: Whether it is the study's primary report.
        file_name: The uploaded file's name.
        mime_type: Decided by the server from the file's leading bytes.
        size_bytes: The file's size.
        sha256: Hex digest of the file, when the server gives one.
        created_at: When it was attached.
        attached_by_partner_key_id: The partner key that attached it; ``None`` for a report a
            user uploaded (which a partner cannot detach).
        extra: Wire fields this SDK version does not know.
    """

    report_id: str
    study_instance_uid: str | None = None
    entity_id: str | None = None
    title: str | None = None
    report_type: ReportType | str | None = None
    is_primary: bool = False
    file_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None
    attached_by_partner_key_id: str | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_partner_uploaded(self) -> bool:
        """Whether a partner key attached it (only those can be detached through the API)."""
        return self.attached_by_partner_key_id is not None


@attrs.frozen(kw_only=True)
class ReportDownload(Report):
    """Report metadata plus a presigned download URL (``reports.get``).

    Attributes:
        download_url: Presigned URL; fetch it WITHOUT the API key, and not after ``expires_at``.
        download_url_expires_in_seconds: Lifetime the server gave the URL (300).
        expires_at: When the URL stops working, computed at receipt from the lifetime (so it
            does not depend on the server's clock agreeing with ours).
    """

    download_url: str
    download_url_expires_in_seconds: int
    expires_at: datetime

    def is_expired(self, *, margin: float = 0.0, now: datetime | None = None) -> bool:
        """Whether the URL is (or within ``margin`` seconds will be) past its lifetime."""
        now = now if now is not None else datetime.now(timezone.utc)
        return (self.expires_at - now).total_seconds() <= margin


@attrs.frozen(kw_only=True)
class StorageBreakdown:
    """A customer's storage at the time of a STORAGE_FULL answer.

    Attributes:
        quota_gb: The customer's quota in GB.
        used_bytes: Bytes already used.
        required_bytes: Bytes the refused upload needed.
    """

    quota_gb: float | None = None
    used_bytes: int | None = None
    required_bytes: int | None = None


@attrs.frozen(kw_only=True)
class AttachJob:
    """One report to attach, the unit of ``reports.attach_many``.

    Attributes:
        customer_id: The customer, e.g. ``pc_42_1715600000000``.
        study_uid: The study's Study Instance UID.
        file: A path, the bytes, or a binary file object.
        title: The report's title; the file name when ``None``.
        report_type: A :class:`ReportType` or its string value.
        is_primary: Make it the study's primary report.
        silent: Skip the AI Lens timeline comment.
        filename: The name to upload under; taken from the path when ``None``.
    """

    customer_id: str
    study_uid: str
    file: FileSource = attrs.field(eq=False)
    title: str | None = None
    report_type: ReportType | str = ReportType.OTHER
    is_primary: bool = False
    silent: bool = False
    filename: str | None = None


@attrs.frozen(kw_only=True)
class AttachOutcome:
    """What became of one :class:`AttachJob`: a report, or the error that stopped it.

    Attributes:
        job: The job.
        report: The attached report, when it succeeded.
        error: The typed error, when it failed.
        skipped: True when the journal showed the job was already done in an earlier run
            (``report`` then holds what the journal recorded).
    """

    job: AttachJob
    report: Report | None = None
    error: BigMindError | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Whether the job ended with its report attached."""
        return self.error is None and self.report is not None


@attrs.frozen(kw_only=True)
class ReportAttachedData:
    """The data of a ``dicom.report.attached`` webhook.

    Attributes:
        customer_id: The customer.
        study_instance_uid: The study the report was attached to.
        report: The report.
        extra: Wire fields this SDK version does not know.
    """

    customer_id: str
    study_instance_uid: str
    report: Report
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class ReportDetachedData:
    """The data of a ``dicom.report.detached`` webhook.

    Attributes:
        customer_id: The customer.
        study_instance_uid: The study the report was detached from.
        report_id: The detached report.
        extra: Wire fields this SDK version does not know.
    """

    customer_id: str
    study_instance_uid: str
    report_id: str
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified webhook delivery.

    Attributes:
        event: The event name, e.g. ``dicom.report.attached`` (unknown names are kept as sent).
        timestamp: When the event happened, ``None`` if the envelope had none.
        data: Typed data for the DICOM report events; the raw mapping for every other event.
        extra: Envelope fields this SDK version does not know.
    """

    event: str
    timestamp: datetime | None = None
    data: ReportAttachedData | ReportDetachedData | Mapping[str, Any] = attrs.field(factory=dict)
    extra: Mapping[str, Any] = _extra()
