"""The one cattrs converter between the API's JSON and the SDK's attrs models.

Build it with :func:`make_converter`; every client owns its own (there is no global one).
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from bigmind_async._models import (
    ReportAttachedData,
    ReportDetachedData,
    ReportDownload,
    ReportType,
    WebhookEvent,
)
from bigmind_async.errors import InvalidResponseError

__all__ = ["format_datetime", "make_converter", "structure", "to_camel"]

T = TypeVar("T")

_EXTRA = "extra"
_EXTRA_KEY = "\x00extra"  # cannot collide with a wire key
_EXPIRES_KEY = "\x00expiresAt"
_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def to_camel(name: str) -> str:
    """``study_instance_uid`` -> ``studyInstanceUid``: the API's key for a model field."""
    return _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), name)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_converter(*, now: Callable[[], datetime] = _utcnow) -> cattrs.Converter:
    """Build the converter. The wire-format choices it makes:

    - Keys: each snake_case field is the camelCase key of the same words
      (``attached_by_partner_key_id`` <-> ``attachedByPartnerKeyId``).
    - Unknown keys: never an error; kept as sent in the model's ``extra`` mapping, and written
      back out on unstructuring, so a round trip loses nothing.
    - Missing optional keys, and ``null``: the field's default (``None`` for optional fields).
    - Datetimes: ISO 8601 in, aware ``datetime`` out; ``Z`` and offsets accepted, a naive value
      is taken as UTC. Out: UTC with milliseconds and ``Z``, as the API writes them.
    - Dates: ``YYYY-MM-DD`` (or DICOM's ``YYYYMMDD``) <-> ``date``; an unparseable date is ``None``.
    - ``reportType``: the :class:`ReportType` member, or the raw string for a type this SDK
      does not know yet (a new server type never breaks parsing).
    - ``ReportDownload.expires_at``: receipt time (``now()``) plus ``downloadUrlExpiresInSeconds``,
      so it never depends on the server's clock; it is not written back out.
    - ``WebhookEvent.data``: typed for ``dicom.report.attached`` / ``dicom.report.detached``,
      the raw mapping for every other event.
    - Errors: a body that does not fit a model raises cattrs' detailed errors, which
      :func:`structure` wraps in :class:`~bigmind_async.errors.InvalidResponseError`.
    """
    converter = cattrs.Converter(detailed_validation=True)

    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook_func(
        lambda t: t == (ReportType | str | None), _structure_report_type
    )
    converter.register_unstructure_hook(ReportType, lambda member: member.value)

    converter.register_structure_hook_factory(
        _has_extra, functools.partial(_make_structure_hook, converter=converter)
    )
    converter.register_unstructure_hook_factory(
        _has_extra, functools.partial(_make_unstructure_hook, converter=converter)
    )
    converter.register_structure_hook(ReportDownload, _report_download_structurer(converter, now))
    converter.register_unstructure_hook(ReportDownload, _report_download_unstructurer(converter))
    converter.register_structure_hook(WebhookEvent, _webhook_event_structurer(converter))
    return converter


def structure(
    converter: cattrs.Converter,
    data: Any,
    cl: type[T],
    *,
    status: int | None = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> T:
    """Structure ``data`` into ``cl``; a body that does not fit becomes InvalidResponseError,
    carrying the ``status``, ``request_id`` and ``headers`` of the answer it came in."""
    try:
        return converter.structure(data, cl)
    except Exception as exc:  # cattrs raises ClassValidationError, ValueError, TypeError...
        raise InvalidResponseError(
            f"the API's answer does not fit {cl.__name__}: {_describe(exc)}",
            status=status,
            details=[_describe(exc)],
            request_id=request_id,
            headers=headers,
        ) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"


def _has_extra(cl: Any) -> bool:
    return attrs.has(cl) and any(a.name == _EXTRA for a in attrs.fields(cl))


def _wire_names(cl: type[Any]) -> dict[str, str]:
    return {a.name: to_camel(a.name) for a in attrs.fields(cl) if a.name != _EXTRA}


def _make_structure_hook(
    cl: type[Any], converter: cattrs.Converter, **renames: str
) -> Callable[[Any, Any], Any]:
    names = _wire_names(cl) | renames
    overrides: dict[str, Any] = {field: override(rename=key) for field, key in names.items()}
    overrides[_EXTRA] = override(rename=_EXTRA_KEY)
    inner = make_dict_structure_fn(cl, converter, **overrides)
    known = frozenset(names.values())
    hints = typing.get_type_hints(cl)
    # key -> (field, the type a value passes as is, else None, and the converter otherwise)
    fast = {
        key: (field, _plain_type(hints[field]), _fast_field(hints[field], converter))
        for field, key in names.items()
    }

    def structure_with_extra(data: Any, _: Any) -> Any:
        if type(data) is dict:
            # The fast path, for a well-formed answer: every value already has its field's
            # type (or a hook converts it). Anything else (a wrong type, a missing field) falls
            # through to cattrs below, which gives the same result or the detailed error.
            kwargs: dict[str, Any] = {}
            extra: dict[str, Any] | None = None
            try:
                for key, value in data.items():
                    spec = fast.get(key)
                    if spec is None:
                        if extra is None:
                            extra = {}
                        extra[key] = value
                    elif value is not None:
                        # A plain value of the field's own type is taken without a call.
                        kwargs[spec[0]] = value if type(value) is spec[1] else spec[2](value)
                if extra is not None:
                    kwargs[_EXTRA] = extra
                return cl(**kwargs)
            except Exception:  # noqa: S110 - cattrs, below, reports it in detail
                pass
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object for {cl.__name__}, got {type(data).__name__}")
        # null on the wire means "not given": let the field's default apply.
        unknown = data.keys() - known
        if unknown or None in data.values():
            cleaned = {k: v for k, v in data.items() if k in known and v is not None}
            if unknown:
                cleaned[_EXTRA_KEY] = {k: data[k] for k in unknown}
            data = cleaned
        return inner(data, cl)

    return structure_with_extra


class _NotFast(Exception):
    """A value the fast path does not take as is (cattrs decides)."""


def _exact(kind: type[Any]) -> Callable[[Any], Any]:
    def take(value: Any) -> Any:
        if type(value) is not kind:  # bool is not an int here; "5" is not an int
            raise _NotFast
        return value

    return take


def _plain_type(hint: Any) -> type[Any] | None:
    """``str``, ``int``, ``bool`` or ``float`` for a field of that type (or Optional of it)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return args[0] if len(args) == 1 and args[0] in (str, int, bool, float) else None


def _fast_field(hint: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    """A one-argument structurer for a field of type ``hint`` (None is handled by the caller).

    Exactly what the converter does for values of the expected type; raises for others, so
    the caller can leave them to cattrs.
    """
    if hint == (ReportType | str | None):
        return lambda value: _structure_report_type(value, hint)
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            hint = rest[0]
    if hint in (str, int, bool, float):
        return _exact(hint)
    if hint is datetime:
        return functools.partial(_structure_datetime, _=datetime)
    if hint is date:
        return functools.partial(_structure_date, _=date)
    hook: list[Callable[[Any, Any], Any]] = []

    def nested(value: Any) -> Any:
        if not hook:  # looked up on first use: the hook may not exist yet at build time
            hook.append(converter.get_structure_hook(hint))
        return hook[0](value, hint)

    return nested


def _make_unstructure_hook(cl: type[Any], converter: cattrs.Converter) -> Callable[[Any], Any]:
    overrides: dict[str, Any] = {
        field: override(rename=key) for field, key in _wire_names(cl).items()
    }
    overrides[_EXTRA] = override(omit=True)
    inner = make_dict_unstructure_fn(cl, converter, **overrides)

    def unstructure_with_extra(obj: Any) -> dict[str, Any]:
        out = inner(obj)
        for key, value in obj.extra.items():
            out.setdefault(key, value)
        return out

    return unstructure_with_extra


def _report_download_structurer(
    converter: cattrs.Converter, now: Callable[[], datetime]
) -> Callable[[Any, Any], ReportDownload]:
    # Generated on first use, like cattrs' own hooks: generating it costs about half of
    # building a converter, which every client does.
    inner: Callable[[Any, Any], Any] | None = None

    def structure_download(data: Any, cl: Any) -> ReportDownload:
        nonlocal inner
        if inner is None:
            inner = _make_structure_hook(ReportDownload, converter, expires_at=_EXPIRES_KEY)
        if isinstance(data, Mapping):
            seconds = data.get("downloadUrlExpiresInSeconds")
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                data = {**data, _EXPIRES_KEY: now() + timedelta(seconds=seconds)}
        result: ReportDownload = inner(data, cl)
        return result

    return structure_download


def _report_download_unstructurer(
    converter: cattrs.Converter,
) -> Callable[[ReportDownload], dict[str, Any]]:
    inner: Callable[[Any], Any] | None = None

    def unstructure_download(obj: ReportDownload) -> dict[str, Any]:
        nonlocal inner
        if inner is None:
            inner = _make_unstructure_hook(ReportDownload, converter)
        out: dict[str, Any] = inner(obj)
        out.pop("expiresAt", None)
        return out

    return unstructure_download


_EVENT_DATA: dict[str, type[Any]] = {
    "dicom.report.attached": ReportAttachedData,
    "dicom.report.detached": ReportDetachedData,
}


def _webhook_event_structurer(converter: cattrs.Converter) -> Callable[[Any, Any], WebhookEvent]:
    def structure_event(data: Any, _: Any) -> WebhookEvent:
        if not isinstance(data, Mapping):
            raise TypeError(
                f"expected a JSON object for a webhook event, got {type(data).__name__}"
            )
        event = data.get("event")
        if not isinstance(event, str):
            raise TypeError("a webhook event needs a string 'event'")
        raw = data.get("data")
        raw = raw if isinstance(raw, Mapping) else {}
        typed = _EVENT_DATA.get(event)
        timestamp = data.get("timestamp")
        return WebhookEvent(
            event=event,
            timestamp=_structure_datetime(timestamp, datetime) if timestamp is not None else None,
            data=converter.structure(raw, typed) if typed is not None else dict(raw),
            extra={k: v for k, v in data.items() if k not in ("event", "timestamp", "data")},
        )

    return structure_event


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is str:
        try:  # the API's own form, which Python 3.11+ reads as is ("Z" included)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = _parse_datetime(value)
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = _parse_datetime(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _parse_datetime(value: str) -> datetime:
    """ISO 8601 with surrounding spaces, ``Z``, and any number of fraction digits (3.10)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(_normalize_fraction(text))


_FRACTION = re.compile(r"\.(\d+)")


def _normalize_fraction(text: str) -> str:
    # Python 3.10's fromisoformat takes exactly 3 or 6 fractional digits.
    return _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)


def format_datetime(value: datetime) -> str:
    """The API's form of a moment: UTC, ``Z``, milliseconds (microseconds when they matter);
    a naive value is taken as UTC."""
    utc = value.astimezone(timezone.utc) if value.tzinfo is not None else value
    micros = utc.microsecond
    fraction = f"{micros // 1000:03d}" if micros % 1000 == 0 else f"{micros:06d}"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def _structure_date(value: Any, _: Any) -> date | None:
    if type(value) is str and len(value) == 10:
        try:  # the usual YYYY-MM-DD, as is
            return date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    for candidate in (text, f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 else ""):
        try:
            return date.fromisoformat(candidate[:10])
        except ValueError:
            continue
    return None


def _structure_report_type(value: Any, _: Any) -> ReportType | str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string reportType, got {type(value).__name__}")
    try:
        return ReportType(value)
    except ValueError:
        return value
