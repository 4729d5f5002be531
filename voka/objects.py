"""The mesh's object store: files too large for one message (recordings of any length) travel
between services as NATS JetStream Object Store objects, named by a reference
`objects://<bucket>/<name>` that fits in any request or event.

One bucket per owning domain, `voka-<domain>` (`bucket_of`): only that domain's NATS user may
write, overwrite or delete in it (tools/nats_auth.py), and a domain reads another's objects only
where its declaration says so (`Declaration.reads_objects`), and then only by direct get, so it
can neither write nor purge there. Every bucket is bounded: `max_bytes` for the whole bucket
(a put past it fails, nothing half-written stays) and `max_age` (objects older are dropped by
JetStream, so an owner that forgot one cannot fill the disk).

Each object carries who it belongs to (`owner`, a `users/..` name), its content type, its size
and its SHA-256, so a service handed a reference by a peer can check that the object is the
user's it acts for before reading it (`info`).

Memory is bounded whatever the object's size: a put reads the file one chunk (CHUNK_BYTES) at a
time and waits for JetStream's ack before the next; `get_into` fetches one chunk at a time by
direct get and writes it to the file before asking for the next, verifying the SHA-256 on the
way. Neither ever holds more than one chunk.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nats.js import JetStreamContext, api
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError

SCHEME = "objects"
CHUNK_BYTES = 128 * 1024  # one chunk in memory at a time, on either side
OWNER_HEADER = "Voka-Owner"
TYPE_HEADER = "Content-Type"
_REF = re.compile(r"objects://([A-Za-z0-9_-]{1,64})/([A-Za-z0-9_.-]{1,128})")
_DIGEST = "SHA-256="


def bucket_of(domain: str) -> str:
    """The bucket a domain owns."""
    return f"voka-{domain}"


def stream_of(bucket: str) -> str:
    """The JetStream stream behind a bucket (nats' naming)."""
    return f"OBJ_{bucket}"


class ObjectNotFound(LookupError):
    """No such object (never stored, deleted, or past the bucket's max_age)."""


class ObjectTooLarge(ValueError):
    """The object is larger than the reader accepts."""


@dataclass(frozen=True)
class ObjectRef:
    """Where an object lives: `objects://<bucket>/<name>`."""

    bucket: str
    name: str

    def __str__(self) -> str:
        return f"{SCHEME}://{self.bucket}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        """ValueError when `text` is not a reference this module hands out."""
        found = _REF.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not an objects://<bucket>/<name> reference")
        return cls(found.group(1), found.group(2))


@dataclass(frozen=True)
class StoredObject:
    """An object's reference and metadata."""

    ref: ObjectRef
    owner: str
    content_type: str
    size: int
    sha256: str  # hex


class Objects:
    """Writes in the domain's own bucket; reads in any bucket the domain may read."""

    def __init__(self, js: JetStreamContext, domain: str) -> None:
        self._js = js
        self.bucket = bucket_of(domain)

    async def open(self, *, max_bytes: int, max_age: float, replicas: int = 1) -> Objects:
        """Create the domain's bucket, bounded (`max_bytes` in all, objects dropped after
        `max_age` seconds), on `replicas` servers (the event streams' VOKA_STREAM_REPLICAS, so
        a recording on its way survives a server as its events do), unless it exists (an
        existing bucket keeps its configuration: services may not update streams,
        tools/nats_auth.py). Only writers need it."""
        if max_bytes <= 0 or max_age <= 0:
            raise ValueError("an object bucket needs positive max_bytes and max_age")
        try:
            await self._js.object_store(self.bucket)
        except BucketNotFoundError:
            config = api.ObjectStoreConfig(
                description=f"objects of {self.bucket}", ttl=max_age, max_bytes=max_bytes,
                storage=api.StorageType.FILE, replicas=replicas,
            )  # fmt: skip
            await self._js.create_object_store(self.bucket, config=config)
        return self

    async def put_file(
        self, path: Path, *, owner: str, content_type: str, name: str | None = None
    ) -> StoredObject:
        """Store the file at `path` (read chunk by chunk) as `name` (default: a new id)."""
        store = await self._js.object_store(self.bucket)
        name = name or uuid.uuid4().hex
        meta = api.ObjectMeta(
            name=name,
            headers={OWNER_HEADER: owner, TYPE_HEADER: content_type},
            options=api.ObjectMetaOptions(max_chunk_size=CHUNK_BYTES),
        )
        with open(path, "rb") as file:  # noqa: ASYNC230 (nats reads it in a thread)
            info = await store.put(name, file, meta=meta)
        return _stored(info, self.bucket)

    async def delete(self, ref: ObjectRef) -> None:
        """Remove an object of this domain's bucket (gone already is fine)."""
        if ref.bucket != self.bucket:
            raise ValueError(f"{ref} is not in {self.bucket}")
        store = await self._js.object_store(self.bucket)
        with contextlib.suppress(ObjectNotFoundError):
            await store.delete(ref.name)

    async def info(self, ref: ObjectRef) -> StoredObject:
        """The object's metadata; ObjectNotFound when there is none."""
        return _stored(await self._info(ref), ref.bucket)

    async def get_into(self, ref: ObjectRef, path: Path, *, max_bytes: int) -> StoredObject:
        """Write the object to `path` chunk by chunk, checking its size (ObjectTooLarge past
        `max_bytes`, before reading any) and its SHA-256 (ValueError when it differs)."""
        info = await self._info(ref)
        stored = _stored(info, ref.bucket)
        if stored.size > max_bytes:
            raise ObjectTooLarge(f"{ref} holds {stored.size} bytes; at most {max_bytes}")
        digest = hashlib.sha256()
        with open(path, "wb") as file:  # noqa: ASYNC230 (written in a thread, chunk by chunk)
            written = await self._copy(ref, info.nuid, stored.size, file, digest)
        if written != stored.size or digest.hexdigest() != stored.sha256:
            await asyncio.to_thread(os.unlink, path)
            raise ValueError(f"{ref} changed or is damaged (size or SHA-256 differs)")
        return stored

    async def _copy(self, ref: ObjectRef, nuid: str, size: int, file: BinaryIO, digest: Any) -> int:
        subject = f"$O.{ref.bucket}.C.{nuid}"
        stream, sequence, written = stream_of(ref.bucket), 1, 0
        while written < size:
            try:
                msg = await self._js.get_msg(
                    stream, seq=sequence, subject=subject, direct=True, next=True
                )
            except NotFoundError as exc:
                raise ObjectNotFound(f"{ref} lost chunks (deleted while read?)") from exc
            chunk = msg.data or b""
            digest.update(chunk)
            await asyncio.to_thread(file.write, chunk)
            written += len(chunk)
            sequence = (msg.seq or sequence) + 1
        return written

    async def _info(self, ref: ObjectRef) -> api.ObjectInfo:
        encoded = base64.urlsafe_b64encode(ref.name.encode()).decode()
        try:
            msg = await self._js.get_msg(
                stream_of(ref.bucket), subject=f"$O.{ref.bucket}.M.{encoded}", direct=True
            )
        except NotFoundError as exc:
            raise ObjectNotFound(f"{ref} does not exist") from exc
        info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(msg.data or b"{}"))
        if info.deleted or not info.nuid:
            raise ObjectNotFound(f"{ref} does not exist")
        return info


def _header(headers: dict[str, Any] | None, key: str) -> str:
    """A header's value, whether written as a string (nats-py) or a list (other clients)."""
    value = (headers or {}).get(key, "")
    return str(value[0] if isinstance(value, list) and value else value or "")


def _stored(info: api.ObjectInfo, bucket: str) -> StoredObject:
    digest = (info.digest or "").removeprefix(_DIGEST).removeprefix(_DIGEST.lower())
    return StoredObject(
        ref=ObjectRef(bucket, info.name),
        owner=_header(info.headers, OWNER_HEADER),
        content_type=_header(info.headers, TYPE_HEADER),
        size=info.size or 0,
        sha256=base64.urlsafe_b64decode(digest).hex() if digest else "",
    )
