"""Find the study a report belongs to from one of the study's DICOM files (extra ``dicom``).

An integration often holds a study's images rather than its Study Instance UID. Reading the
UID from any of those files gives the ``study_uid`` that ``reports.attach`` needs::

    from bigmind_async.dicom import study_uid_from_file

    uid = study_uid_from_file("series/IM0001.dcm")      # blocking: reads the file's header
    uid = await astudy_uid_from_file("series/IM0001.dcm")  # the same on a worker thread

Only the header is parsed (``stop_before_pixels``, the one tag asked for), so a large image
costs no more than a small one, and no patient data is read beyond what the parser must skip.
The UID goes through the same check as every ``study_uid`` argument. Needs pydicom:
``pip install "bigmind[dicom]"``.
"""

from __future__ import annotations

import os
from typing import IO, Any

import anyio.to_thread

from bigmind_async._validation import check_study_uid
from bigmind_async.errors import ConfigurationError, ValidationError

__all__ = ["astudy_uid_from_file", "study_uid_from_file"]

DicomSource = str | os.PathLike[str] | IO[bytes]

_STUDY_INSTANCE_UID = 0x0020000D


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise ConfigurationError(
            'reading DICOM files needs pydicom: pip install "bigmind[dicom]"'
        ) from None
    return pydicom


def study_uid_from_file(source: DicomSource) -> str:
    """The Study Instance UID (0020,000D) of a DICOM Part 10 file: a path or a binary file.

    Raises ValidationError (``status=None``) when the file is missing or unreadable, is not
    DICOM, has no Study Instance UID, or holds one that is not a valid UID; ConfigurationError
    when pydicom is not installed.
    """
    pydicom = _pydicom()
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the file object"
    try:
        dataset = pydicom.dcmread(
            source, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]
        )
    except pydicom.errors.InvalidDicomError:
        raise ValidationError(f"dicom file: {name} is not a DICOM file", status=None) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValidationError(f"dicom file: cannot read {name}: {reason}", status=None) from None
    # The raw element: converting it would make pydicom warn about a malformed value, which
    # the check below reports as a ValidationError anyway.
    element = dataset.get_item(_STUDY_INSTANCE_UID)
    value = None if element is None else element.value
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    # UI values are padded to an even length with NUL; some writers pad with spaces.
    uid = "" if value is None else str(value).strip("\x00 ")
    if not uid:
        raise ValidationError(f"dicom file: {name} has no StudyInstanceUID", status=None)
    return check_study_uid(uid, f"StudyInstanceUID in {name}")


async def astudy_uid_from_file(source: DicomSource) -> str:
    """:func:`study_uid_from_file` on a worker thread, for async code."""
    return await anyio.to_thread.run_sync(study_uid_from_file, source)
