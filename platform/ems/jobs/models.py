"""The job table (tenant schema): one row per long operation, its progress and its outcome."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ems.db import TenantBase, UtcDateTime, utcnow


class JobKind(enum.StrEnum):
    """What a job does; ``params`` says on what (which ledger, which format)."""

    LEDGER_IMPORT = "ledger_import"
    LEDGER_EXPORT = "ledger_export"


class JobStatus(enum.StrEnum):
    """Where a job stands: queued, running, then done or failed for good."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED})


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Job(TenantBase):
    """A long operation of the tenant, written by the request that asks for it and by the
    worker that runs it.

    Not audited: the ledger rows a job writes are (as the worker's writes), and the
    job's own progress updates would only fill the audit log with noise.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_one_of("status", JobStatus), name="status"),
        CheckConstraint("done >= 0 AND (total IS NULL OR total >= 0)", name="progress"),
        Index("ix_jobs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)  # None: not known yet
    message: Mapped[str | None] = mapped_column(Text)
    # Done: what it did ({"created": 3, ...}); failed: {"errors": {"rows[4].level": [...]}}.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input_filename: Mapped[str | None] = mapped_column(String(200))
    input_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    output_filename: Mapped[str | None] = mapped_column(String(200))
    output_content_type: Mapped[str | None] = mapped_column(String(100))
    output_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @property
    def finished(self) -> bool:
        """Done or failed: nothing will change any more."""
        return self.status in FINISHED
