"""The history table and every query on it. A row is one analysis: the image's facts (never
its pixels) and the findings in the contract's encoding (`convert.findings_message`). Who may
read a row is the handlers' call (`voka.tenancy`); lists take the owner they show as a query
condition."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.vision import convert
from services.vision.records import AnalysisRecord, ImageFacts
from voka.pagination import Listing, Order, Page, fingerprint
from voka.vision.v1 import vision_pb2
from voka.wellknown import utc

metadata = sa.MetaData()

# Mirrors migrations/versions/0001_analyses.py; the migration is what creates it.
analyses = sa.Table(
    "vision_analyses",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("kind", sa.Integer(), nullable=False),
    sa.Column("source", sa.Integer(), nullable=False),
    sa.Column("kinect_device", sa.String(100), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("width", sa.Integer(), nullable=False),
    sa.Column("height", sa.Integer(), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("findings", sa.LargeBinary(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

NEWEST_FIRST: Order[AnalysisRecord] = Order(
    analyses.c.create_time, analyses.c.id, True, "datetime", lambda r: r.create_time
)


@dataclass(frozen=True)
class AnalysisQuery:
    """ListAnalyses' filters: the kind (0: any) and the owner asked for (a token is only good
    for the same owner)."""

    kind: int = 0
    owner: str = ""
    order_by: str = "create_time desc"

    def fingerprint(self) -> str:
        return fingerprint("analyses", *astuple(self))

    def where(self) -> list[Any]:
        return [analyses.c.kind == self.kind] if self.kind else []


def _record(row: sa.Row[Any]) -> AnalysisRecord:
    image = ImageFacts(row.source, row.kinect_device, row.content_type, row.width, row.height,
                       row.size_bytes, row.sha256)  # fmt: skip
    findings = convert.findings_of(vision_pb2.Analysis.FromString(row.findings))
    return AnalysisRecord(row.id, row.owner, row.kind, image, utc(row.create_time), findings)


class AnalysisStore:
    """Reads and writes of analyses within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: AnalysisRecord) -> None:
        image = record.image
        findings = convert.findings_message(record.findings).SerializeToString()
        await self._session.execute(sa.insert(analyses).values(
            id=record.id, owner=record.owner, kind=record.kind, source=image.source,
            kinect_device=image.kinect_device, content_type=image.content_type,
            width=image.width, height=image.height, size_bytes=image.size_bytes,
            sha256=image.sha256, findings=findings, create_time=record.create_time,
        ))  # fmt: skip

    async def get(self, analysis_id: str) -> AnalysisRecord | None:
        statement = sa.select(analyses).where(analyses.c.id == analysis_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else _record(row)

    async def listing(
        self, owner: str | None, query: AnalysisQuery, page: Page
    ) -> Listing[AnalysisRecord]:
        """One page of `owner`'s analyses (None: everyone's), newest first."""
        where = query.where()
        if owner is not None:
            where.append(analyses.c.owner == owner)
        statement = sa.select(analyses).where(*where)
        if page.cursor is not None:
            statement = statement.where(NEWEST_FIRST.after(page.cursor))
        statement = statement.order_by(*NEWEST_FIRST.clauses()).limit(page.size + 1)
        rows = list((await self._session.execute(statement)).all())
        count = sa.select(sa.func.count()).select_from(analyses).where(*where)
        total = int((await self._session.execute(count)).scalar_one())
        return Listing([_record(row) for row in rows[: page.size]], len(rows) > page.size, total)

    async def erase(self, owner: str) -> int:
        """Every analysis of `owner`, for account erasure."""
        gone = await self._session.execute(sa.delete(analyses).where(analyses.c.owner == owner))
        return int(gone.rowcount)  # type: ignore[attr-defined]
