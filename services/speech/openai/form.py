"""`multipart/form-data` bodies, as the OpenAI SDKs upload audio.

Parsing is python-multipart's (the parser behind Starlette and FastAPI, kept up to date
against the RFC 7578 corner cases and the denial-of-service reports that hand-written parsers
keep rediscovering); this module only collects its callbacks into fields and one file each, and
bounds them. The whole body is already in memory, bounded by Envoy (64 MiB); here each part is
bounded too: the file by the service's upload limit (`VOKA_SPEECH_MAX_UPLOAD_BYTES`, checked
again when the audio is decoded), every other field by MAX_FIELD_BYTES, the part headers by
MAX_HEADER_BYTES, and the number of parts by MAX_PARTS. A form that breaks a bound or the
syntax is INVALID_ARGUMENT naming the field (`body` when no field can be named).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from voka import errors
from voka.errors import FieldViolation

MAX_PARTS = 64
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 8 * 1024
FORM_DATA = "multipart/form-data"


@dataclass(frozen=True)
class Upload:
    """A file part: what the client called it, what it said it is, and its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    """The form's text fields (every value, in order: `timestamp_granularities[]` repeats) and
    its file parts by field name."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The field's last value, None when absent."""
        values = self.fields.get(name)
        return values[-1] if values else None


class _Part:
    """One part while its callbacks arrive."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.name = ""
        self.filename: str | None = None
        self.chunks: list[bytes] = []
        self.size = 0


class _Collector:
    """python-multipart's callbacks, building a Form within the bounds."""

    def __init__(self, max_file_bytes: int) -> None:
        self.form = Form()
        self._max_file_bytes = max_file_bytes
        self._parts = 0
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self.ended = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_end": self._finish,
        }

    def _begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise _violation("body", f"has more than {MAX_PARTS} parts")
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._count_header(end - start)

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, size: int) -> None:
        self._part.header_bytes += size
        if self._part.header_bytes > MAX_HEADER_BYTES:
            raise _violation("body", f"a part's headers exceed {MAX_HEADER_BYTES} bytes")

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._part.headers[name] = self._header_value.decode("utf-8", "replace").strip()
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._part.headers.get("content-disposition"))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise _violation("body", "every part needs `Content-Disposition: form-data; name=...`")
        self._part.name = name.decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._part.filename = None if filename is None else filename.decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        is_file = part.filename is not None
        limit = self._max_file_bytes if is_file else MAX_FIELD_BYTES
        if part.size > limit:
            raise _violation(part.name, f"is larger than {limit} bytes")
        part.chunks.append(data[start:end])

    def _end(self) -> None:
        part = self._part
        data = b"".join(part.chunks)
        if part.filename is None:
            value = data.decode("utf-8", "replace")
            self.form.fields.setdefault(part.name, []).append(value)
        else:
            content_type = part.headers.get("content-type", "application/octet-stream")
            self.form.files[part.name] = Upload(part.filename, content_type, data)

    def _finish(self) -> None:
        self.ended = True


class _Violation(Exception):
    """Raised inside a callback, so parsing stops at the first broken bound."""

    def __init__(self, violation: FieldViolation) -> None:
        super().__init__(violation.description)
        self.violation = violation


def _violation(path: str, description: str) -> _Violation:
    return _Violation(FieldViolation(path, description))


def boundary(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type; INVALID_ARGUMENT on `body` when
    the body is anything else."""
    mime, params = parse_options_header(content_type)
    value = params.get(b"boundary")
    if mime != FORM_DATA.encode() or not value:
        raise errors.invalid_argument([FieldViolation(
            "body", f"must be {FORM_DATA} with a boundary (got {content_type or 'no type'!r})"
        )])  # fmt: skip
    return value


def parse(content_type: str, body: bytes, *, max_file_bytes: int) -> Form:
    """The form in `body`; INVALID_ARGUMENT naming the first field beyond its bound, or `body`
    when the syntax is broken."""
    collector = _Collector(max_file_bytes)
    parser = MultipartParser(boundary(content_type), collector.callbacks())  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except _Violation as exc:
        raise errors.invalid_argument([exc.violation]) from None
    except MultipartParseError as exc:
        raise errors.invalid_argument(
            [FieldViolation("body", f"is not a valid form: {exc}")]
        ) from exc
    if not collector.ended:
        raise errors.invalid_argument([FieldViolation("body", "ends before the closing boundary")])
    return collector.form
