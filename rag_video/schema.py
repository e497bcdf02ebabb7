"""Arrow schemas of the library's tables: sources, shots, renders.

Schemas are versioned (SCHEMA_VERSION, stored in the library's meta file) so a library written by
an older rag-video can be recognised. The `embedding` column's width is the encoder's dimension,
fixed when the shots table is created.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
DEFAULT_DIM = 512

SOURCES = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("aliases", pa.list_(pa.string())),
        pa.field("size_bytes", pa.int64()),
        pa.field("mtime", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("frames", pa.int64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("rotation", pa.int32()),
        pa.field("video_codec", pa.string()),
        pa.field("has_audio", pa.bool_()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("license", pa.string()),
        pa.field("creator", pa.string()),
        pa.field("generated", pa.bool_()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
        pa.field("pipeline_version", pa.string()),
    ]
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


def embedding_dim(schema: pa.Schema) -> int:
    """Width of the embedding column of a shots schema."""
    return schema.field("embedding").type.list_size


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Build an Arrow table from row dicts, filling missing columns with nulls."""
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)
