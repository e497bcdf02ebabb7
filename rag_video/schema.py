"""Arrow schemas of the library's tables: sources, shots, renders.

Schemas are versioned (SCHEMA_VERSION, stored in the library's meta file) so a library written by
an older rag-video can be recognised. The `embedding` column's width is the encoder's dimension,
fixed when the shots table is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

SCHEMA_VERSION = 1
DEFAULT_DIM = 512


def _column(arrow_type: pa.DataType, *, nullable: bool = True, **default: Any) -> Any:
    """A `SourceRow` field and its Arrow column (`default=` or `default_factory=` as in
    `dataclasses.field`; none: a required field)."""
    return field(metadata={"arrow": arrow_type, "nullable": nullable}, **default)


@dataclass(frozen=True, kw_only=True)
class SourceRow:
    """One row of the `sources` table: what ingest learned about a file, or why it failed.

    The one definition of the table: `SOURCES` is derived from these fields, in this order.
    """

    source_id: str = _column(pa.string(), nullable=False)
    path: str = _column(pa.string())
    aliases: list[str] = _column(pa.list_(pa.string()), default_factory=list)
    size_bytes: int | None = _column(pa.int64())
    mtime: float | None = _column(pa.float64())
    duration_s: float | None = _column(pa.float64(), default=None)
    fps: float | None = _column(pa.float64(), default=None)
    frames: int | None = _column(pa.int64(), default=None)
    width: int | None = _column(pa.int32(), default=None)
    height: int | None = _column(pa.int32(), default=None)
    rotation: int | None = _column(pa.int32(), default=None)
    video_codec: str | None = _column(pa.string(), default=None)
    has_audio: bool | None = _column(pa.bool_(), default=None)
    title: str | None = _column(pa.string(), default=None)
    description: str | None = _column(pa.string(), default=None)
    tags: list[str] | None = _column(pa.list_(pa.string()), default=None)
    license: str | None = _column(pa.string(), default=None)
    creator: str | None = _column(pa.string(), default=None)
    generated: bool = _column(pa.bool_(), default=False)
    status: Literal["ok", "failed"] = _column(pa.string())
    error: str | None = _column(pa.string(), default=None)
    ingested_at: datetime = _column(pa.timestamp("us", tz="UTC"))
    pipeline_version: str | None = _column(pa.string())

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(
        cls,
        *,
        source_id: str,
        path: str,
        size_bytes: int | None,
        mtime: float | None,
        error: str,
        pipeline_version: str | None,
        aliases: list[str] | None = None,
    ) -> SourceRow:
        """The row of a file that could not be ingested (or committed), saying why."""
        return cls(
            source_id=source_id,
            path=path,
            aliases=list(aliases or []),
            size_bytes=size_bytes,
            mtime=mtime,
            status="failed",
            error=error,
            ingested_at=datetime.now(UTC),
            pipeline_version=pipeline_version,
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SourceRow:
        """A row read from the `sources` table (all columns)."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})


SOURCES = pa.schema(
    [
        pa.field(f.name, f.metadata["arrow"], nullable=f.metadata["nullable"])
        for f in fields(SourceRow)
    ]
)


def sources_table(rows: list[SourceRow]) -> pa.Table:
    """The Arrow table of `sources` rows."""
    return to_table(
        [{f.name: getattr(r, f.name) for f in fields(SourceRow)} for r in rows], SOURCES
    )


def shots_schema(dim: int = DEFAULT_DIM) -> pa.Schema:
    """Schema of the shots table with an embedding of width `dim`."""
    return pa.schema(
        [
            pa.field("row_key", pa.int64(), nullable=False),
            pa.field("shot_id", pa.string(), nullable=False),
            pa.field("source_id", pa.string(), nullable=False),
            pa.field("path", pa.string()),
            pa.field("fps", pa.float64()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("start_frame", pa.int64()),
            pa.field("end_frame", pa.int64()),
            pa.field("start_s", pa.float64()),
            pa.field("end_s", pa.float64()),
            pa.field("duration_s", pa.float64()),
            pa.field("transition_in", pa.string()),
            pa.field("keyframe_times", pa.list_(pa.float64())),
            pa.field("thumbnail", pa.binary()),
            pa.field("brightness", pa.float32()),
            pa.field("contrast", pa.float32()),
            pa.field("saturation", pa.float32()),
            pa.field("dominant_colors", pa.list_(pa.string())),
            pa.field("motion", pa.float32()),
            pa.field("text", pa.string()),
            pa.field("embedding", pa.list_(pa.float32(), dim)),
            pa.field("embed_model", pa.string()),
        ]
    )


RENDERS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("shot_index", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("decision", pa.string()),
        pa.field("shot_id", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("generator", pa.string()),
        pa.field("model", pa.string()),
        pa.field("steps", pa.int32()),
        pa.field("strength", pa.float64()),
        pa.field("seed", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("script", pa.string()),
        pa.field("output", pa.string()),  # OUT.mp4 as written (absolute)
        pa.field("manifest", pa.string()),  # OUT.manifest.json beside it
        pa.field("title", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("shots", pa.int32()),
        pa.field("final", pa.bool_()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""One row per make run: where its output and manifest were written."""


def embedding_dim(schema: pa.Schema) -> int:
    """Width of the embedding column of a shots schema."""
    return schema.field("embedding").type.list_size


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Build an Arrow table from row dicts, filling missing columns with nulls."""
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)
