"""Reading a study's UID from its DICOM files (``bigmind_async.dicom``, extra ``dicom``)."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import pytest

from bigmind_async import AsyncBigMind, ValidationError
from bigmind_async.dicom import astudy_uid_from_file, study_uid_from_file

pydicom = pytest.importorskip("pydicom")

UID = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def write_dicom(path: Path, *, study_uid: str | None = UID, pixels: int = 0) -> Path:
    """A minimal CT image file (Part 10, explicit VR little endian)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.PatientName = "DOE^JANE"
    dataset.Modality = "CT"
    if study_uid is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about the malformed UIDs we test
            dataset.StudyInstanceUID = study_uid
    if pixels:
        dataset.Rows, dataset.Columns = 1024, pixels // 2048
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        dataset.SamplesPerPixel, dataset.PixelRepresentation = 1, 0
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.PixelData = b"\0" * pixels
    dataset.save_as(path, enforce_file_format=True)
    return path


class TestStudyUidFromFile:
    def test_reads_the_uid_from_a_path(self, tmp_path: Path) -> None:
        """The Study Instance UID of a Part 10 file, from a path or a str."""
        path = write_dicom(tmp_path / "IM0001.dcm")
        assert UID == study_uid_from_file(path)
        assert UID == study_uid_from_file(str(path))

    def test_reads_the_uid_from_a_file_object(self, tmp_path: Path) -> None:
        """A binary file object works too."""
        data = write_dicom(tmp_path / "IM0001.dcm").read_bytes()
        assert UID == study_uid_from_file(io.BytesIO(data))

    def test_stops_before_the_pixels(self, tmp_path: Path) -> None:
        """A large image is read only up to its header: a truncated pixel element is fine."""
        path = write_dicom(tmp_path / "big.dcm", pixels=4 * 1024 * 1024)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 3 * 1024 * 1024])  # pixel data cut short
        assert UID == study_uid_from_file(path)

    async def test_async_variant(self, tmp_path: Path) -> None:
        """astudy_uid_from_file gives the same answer from a worker thread."""
        assert UID == await astudy_uid_from_file(write_dicom(tmp_path / "IM0001.dcm"))

    async def test_the_uid_is_ready_for_attach(self, tmp_path: Path, emulator) -> None:  # type: ignore[no-untyped-def]
        """The UID read from a study's image attaches a report to that study."""
        uid = emulator.emu.add_study(emulator.customer_id, study_uid=UID)
        path = write_dicom(tmp_path / "IM0001.dcm", study_uid=uid)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, rate_limit=None) as client:
            report = await client.reports.attach(
                emulator.customer_id, study_uid_from_file(path), b"Findings: none.\n"
            )
        assert uid == report.study_instance_uid


class TestBadFiles:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a ValidationError naming it, with no HTTP status."""
        with pytest.raises(ValidationError, match="cannot read") as caught:
            study_uid_from_file(tmp_path / "nope.dcm")
        assert (None, "VALIDATION_FAILED") == (caught.value.status, caught.value.code)

    def test_not_dicom(self, tmp_path: Path) -> None:
        """A PDF is not a DICOM file."""
        path = tmp_path / "report.pdf"
        path.write_bytes(b"%PDF-1.7\n" + b"\0" * 200)
        with pytest.raises(ValidationError, match="not a DICOM file"):
            study_uid_from_file(path)

    def test_no_study_uid(self, tmp_path: Path) -> None:
        """A DICOM file without a Study Instance UID says so."""
        path = write_dicom(tmp_path / "IM0001.dcm", study_uid=None)
        with pytest.raises(ValidationError, match="no StudyInstanceUID"):
            study_uid_from_file(path)

    def test_malformed_uid(self, tmp_path: Path) -> None:
        """A UID that is not digits and dots fails the same check as any study_uid."""
        path = write_dicom(tmp_path / "IM0001.dcm", study_uid="1.2..3")
        with pytest.raises(ValidationError, match="StudyInstanceUID in"):
            study_uid_from_file(path)


class TestWithoutPydicom:
    def test_missing_extra_is_a_configuration_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without pydicom, the error says which extra to install."""
        from bigmind_async import ConfigurationError

        monkeypatch.setitem(sys.modules, "pydicom", None)  # makes ``import pydicom`` fail
        with pytest.raises(ConfigurationError, match=r"bigmind\[dicom\]"):
            study_uid_from_file(tmp_path / "IM0001.dcm")
