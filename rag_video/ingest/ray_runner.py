# Just over 400 lines, kept whole: one job (the Ray Data mapping of the local per-file work);
# about a quarter is the FileRow wire format beside the stages that read and write it.
"""The Ray runner: the local pipeline's per-file work mapped over files with Ray Data.

    files ─► ray.data.from_items (one block per file)
          ─► .map(analyze)                 tasks: probe → one decode → shots → keyframes → stats
          ─► .map_batches(EmbedActor, …)   actor pool: encoder loaded once per actor (GPU if any)
          ─► driver: iter_rows → FileRow → Ready → Ingest commits (sources row as commit marker)

Workers only compute and return rows; the driver commits, one source at a time, exactly as with
the local runner, so a killed job leaves whole sources only and a rerun finishes the rest. Rows
cross Ray as `FileRow`s, converted to and from dict rows at each stage's edge: bytes (pickled
`FileResult` without images; keyframes as lossless PNG), so blocks are plain Arrow binary columns
and the pixels the encoder sees are the local runner's pixels.

A file whose worker process dies is retried `max_retries` times (Ray task retries); after that its
block is skipped (`DataContext.max_errored_blocks`) and the driver records a failed `sources` row.
Files whose analysis fails normally are failed rows already (`run_worker`), as locally.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag_video import schema
from rag_video.embed.config import EncoderConfig
from rag_video.errors import RagVideoError, UsageError
from rag_video.ingest.analyze import FileResult, IngestOptions, failed_result
from rag_video.ingest.discover import Candidate
from rag_video.ingest.pipeline import Ready, Runner, run_worker
from rag_video.media.image import decode_rgb, encode_rgb

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'rag-video[ray]'"
LOCAL = "local"


def require_ray() -> Any:
    """The `ray` module (with Ray Data), or a UsageError saying how to install the extra."""
    try:
        import ray
        import ray.data  # noqa: F401 - the runner needs Ray Data, not just Ray core
    except ImportError as exc:
        raise UsageError(
            f"--ray needs Ray ({exc.name or 'ray'} is not installed): {INSTALL_HINT}"
        ) from None
    return ray


@dataclass(frozen=True)
class EncoderSpec:
    """How an embedding actor builds its encoder: picklable, loaded once per actor."""

    model: str
    pretrained: str | None
    dim: int = schema.DEFAULT_DIM
    device: str | None = None  # None: CUDA when the actor has a GPU, else CPU
    precision: str = "auto"
    batch_size: int = 64

    def load(self):
        """The encoder; raises EncoderUnavailable (no weights) or UsageError (wrong width)."""
        from rag_video.embed import load_encoder

        encoder = load_encoder(
            self.model,
            self.pretrained,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
        )
        if encoder.dim != self.dim:
            raise UsageError(
                f"model {self.model} makes {encoder.dim}-d vectors but the shots table "
                f"holds {self.dim}-d ones; use `rag-video embed --reembed --model {self.model}`"
            )
        return encoder


@dataclass(frozen=True)
class RayPlan:
    """Knobs of one Ray ingest (see `ray_runner`)."""

    address: str = LOCAL
    workers: int | None = None
    embed_actors: int = 1
    embed_batch: int = 8
    max_retries: int = 2


# ---- rows that cross Ray -------------------------------------------------------------------
def candidate_row(candidate: Candidate) -> dict[str, Any]:
    """A file to analyse as a Ray row."""
    path, size, mtime = str(candidate.path), candidate.size, candidate.mtime
    return {"path": path, "size": size, "mtime": mtime, "source_id": candidate.source_id}


def candidate_of(row: dict[str, Any]) -> Candidate:
    """The file a Ray row names (`candidate_row` inverted)."""
    return Candidate(Path(row["path"]), int(row["size"]), float(row["mtime"]), row["source_id"])


@dataclass(frozen=True)
class FileRow:
    """One file's results as they cross Ray between the stages and to the driver.

    `result`: the pickled `FileResult` without images; `keyframes`: its keyframes as lossless PNG
    bytes (pickled, b"" once embedded or when not embedding); `vectors`: float32 bytes, shots ×
    dim (b"": none); `encoder`: the JSON `EncoderConfig` of the vectors; `deferred`: why embeddings
    were deferred; `fatal`: a usage error the driver must raise ("" for none).
    """

    source_id: str
    result: bytes
    keyframes: bytes = b""
    vectors: bytes = b""
    encoder: str = ""
    deferred: str = ""
    fatal: str = ""

    @classmethod
    def pack(cls, result: FileResult, keep_keyframes: bool) -> FileRow:
        """A finished file; its keyframes travel only when `keep_keyframes` and it is ok."""
        keyframes = b""
        if keep_keyframes and result.ok:
            pngs = [[encode_rgb(img) for img in shot] for shot in result.keyframes]
            keyframes = pickle.dumps(pngs, protocol=5)
        bare = replace(result, keyframes=[])
        return cls(result.source.source_id, pickle.dumps(bare, protocol=5), keyframes)

    def unpack_result(self) -> FileResult:
        """The FileResult (without keyframes: the driver only commits rows)."""
        result: FileResult = pickle.loads(self.result)
        return result

    def unpack_keyframes(self) -> list[list[np.ndarray]]:
        """The keyframe images, pixel-identical to the analysed ones."""
        shots = pickle.loads(self.keyframes) if self.keyframes else []
        return [[decode_rgb(data, "keyframe") for data in shot] for shot in shots]

    def ready(self, dim: int) -> Ready:
        """The file ready to commit."""
        result = self.unpack_result()
        if not self.vectors:
            return Ready(result)
        vectors = np.frombuffer(self.vectors, np.float32).reshape(len(result.shots), dim)
        return Ready(result, vectors, EncoderConfig.model_validate_json(self.encoder))

    def to_row(self) -> dict[str, Any]:
        """The Ray row (every field a column)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileRow:
        """A Ray row back into the record (a missing column takes its default)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})

    @classmethod
    def from_batch(cls, batch: dict[str, np.ndarray]) -> list[FileRow]:
        """The records of a Ray Data numpy batch."""
        names = [f.name for f in fields(cls) if f.name in batch]
        return [
            cls(**{name: batch[name][i] for name in names}) for i in range(len(batch["source_id"]))
        ]

    @classmethod
    def to_batch(cls, rows: list[FileRow]) -> dict[str, list[Any]]:
        """A Ray Data batch (columns) of records."""
        return {f.name: [getattr(r, f.name) for r in rows] for f in fields(cls)}


# ---- worker side ---------------------------------------------------------------------------
def analyze_row(
    row: dict[str, Any], *, options: IngestOptions, keep_keyframes: bool
) -> dict[str, Any]:
    """Ray Data `map` function: one candidate row in, one `FileRow` row out."""
    return FileRow.pack(run_worker(candidate_of(row), options), keep_keyframes).to_row()


class EmbedActor:
    """Ray Data `map_batches` class: loads the encoder once, embeds the shots of a batch of files
    (`FileRow`s in, the same with `vectors`, `encoder`, `deferred` and `fatal` set and the
    keyframes dropped out)."""

    def __init__(self, spec: EncoderSpec):
        from rag_video.embed import EncoderUnavailable

        self.encoder, self.deferred, self.fatal = None, "", ""
        try:
            self.encoder = spec.load()
        except EncoderUnavailable as exc:
            self.deferred = str(exc)
        except RagVideoError as exc:
            self.fatal = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        from rag_video.ingest.embedding import shot_vectors

        rows = FileRow.from_batch(batch)
        images = [r.unpack_keyframes() for r in rows]
        flat = [shot for per_file in images for shot in per_file]
        vectors = shot_vectors(self.encoder, flat) if self.encoder is not None and flat else None
        config = (
            EncoderConfig.from_encoder(self.encoder).model_dump_json()
            if self.encoder is not None
            else ""
        )
        out, at = [], 0
        for row, per_file in zip(rows, images, strict=False):
            mine = vectors[at : at + len(per_file)] if vectors is not None and per_file else None
            out.append(
                FileRow(
                    row.source_id,
                    row.result,
                    vectors=mine.tobytes() if mine is not None else b"",
                    encoder=config if mine is not None else "",
                    deferred=self.deferred,
                    fatal=self.fatal,
                )
            )
            at += len(per_file)
        return FileRow.to_batch(out)


# ---- driver side ---------------------------------------------------------------------------
def check_address(address: str) -> str:
    """`address` if it names a Ray to use, else a UsageError (e.g. a path swallowed by `--ray`)."""
    if address in (LOCAL, "auto") or re.fullmatch(r"(ray://)?[\w.\-\[\]:]+:\d+", address):
        return address
    raise UsageError(
        f"--ray {address!r} is not a Ray address (local, auto, HOST:PORT or ray://HOST:PORT); "
        f"write --ray after the paths, or --ray=ADDRESS"
    )


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Ray connected for one run: `local` starts a private local Ray (stopped after the run);
    `auto`, `host:port` or `ray://host:port` joins a running cluster. An already initialised Ray
    (e.g. a test's) is used as it is and left running."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address == LOCAL:
        ray.init(
            address="local",
            include_dashboard=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    else:
        try:
            ray.init(address=address, logging_level=logging.WARNING, configure_logging=False)
        except ConnectionError as exc:
            raise UsageError(f"--ray {address!r}: cannot join the cluster: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _data_context(max_errored_blocks: int) -> Iterator[None]:
    """Ray Data settings for one run: skip blocks whose task crashed too often; our progress bar
    instead of Ray's, and Ray Data's info chatter kept off stderr unless rag-video logs debug."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = (ctx.max_errored_blocks, ctx.enable_progress_bars, ctx.print_on_execution_start)
    ctx.max_errored_blocks = max_errored_blocks
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    quiet = not log.isEnabledFor(logging.DEBUG)
    loggers = {
        name: logging.getLogger(name) for name in ("ray.data", "ray.data._internal.progress")
    }
    levels = {name: lg.level for name, lg in loggers.items()}
    if quiet:
        loggers["ray.data"].setLevel(logging.WARNING)
        loggers["ray.data._internal.progress"].setLevel(logging.ERROR)
    try:
        yield
    finally:
        ctx.max_errored_blocks, ctx.enable_progress_bars, ctx.print_on_execution_start = saved
        for name, level in levels.items():
            loggers[name].setLevel(level)


def _gpus_per_actor(ray: Any, spec: EncoderSpec) -> float:
    """One GPU per embedding actor when the cluster has GPUs and the spec does not pin the CPU."""
    wants_gpu = spec.device in (None, "auto") or spec.device.startswith("cuda")
    return 1.0 if wants_gpu and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def build_dataset(
    ray: Any,
    todo: list[Candidate],
    options: IngestOptions,
    encoder: EncoderSpec | None,
    plan: RayPlan,
):
    """The lazy Ray Data pipeline: analyze every file, then (if `encoder`) embed in an actor
    pool."""
    items = [candidate_row(c) for c in todo]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    with warnings.catch_warnings():
        # Ray Data deprecates ray_remote_args but names no other way to bound task retries
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map(
            analyze_row,
            fn_kwargs={"options": options, "keep_keyframes": encoder is not None},
            compute=ray.data.TaskPoolStrategy(size=plan.workers),
            num_cpus=1,
            max_retries=plan.max_retries,
        )
    if encoder is None:
        return ds
    gpus = _gpus_per_actor(ray, encoder)
    return ds.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"spec": encoder},
        batch_size=plan.embed_batch,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=plan.embed_actors),
        num_gpus=gpus,
        num_cpus=0 if gpus else 1,
    )


def _crashed(candidate: Candidate, options: IngestOptions, attempts: int) -> FileResult:
    return failed_result(
        candidate.path,
        candidate.source_id,
        candidate.size,
        candidate.mtime,
        f"worker crashed {attempts} times processing this file",
        options,
    )


def ray_runner(
    address: str = LOCAL,
    encoder: EncoderSpec | None = None,
    *,
    workers: int | None = None,
    embed_actors: int = 1,
    embed_batch: int = 8,
    max_retries: int = 2,
) -> Runner:
    """A Runner that analyses files as Ray Data tasks and embeds them in an actor pool.

    `address`: `local` (start a local Ray for the run), `auto`, `host:port` or `ray://host:port`.
    `encoder`: what the embedding actors load (None: no embedding, `--no-embed`). `workers`:
    concurrent analysis tasks (None: as many as the cluster's CPUs allow). `embed_actors`: size of
    the embedding actor pool; `embed_batch`: files per embedding call. `max_retries`: how often a
    file whose worker process died is tried again before it is recorded as failed.
    Raises UsageError at once when Ray is not installed.
    """
    require_ray()
    check_address(address)
    plan = RayPlan(address, workers, embed_actors, embed_batch, max_retries)

    def run(todo: list[Candidate], options: IngestOptions) -> Iterator[Ready]:
        if not todo:
            return
        # stdout carries the command's result only: Ray forwards worker and raylet output to the
        # driver's current sys.stdout, so during the run that is stderr
        with (
            contextlib.redirect_stdout(sys.stderr),
            ray_session(plan.address) as ray,
            _data_context(max_errored_blocks=len(todo)),
        ):
            yield from _stream(
                build_dataset(ray, todo, options, encoder, plan), todo, options, encoder, plan
            )

    return run


def _stream(
    ds, todo: list[Candidate], options: IngestOptions, encoder: EncoderSpec | None, plan: RayPlan
) -> Iterator[Ready]:
    """Yield each finished file, then a failed row for every file whose worker kept crashing."""
    seen, warned = set(), False
    dim = encoder.dim if encoder else schema.DEFAULT_DIM
    for row in map(FileRow.from_row, ds.iter_rows()):
        if row.fatal:
            raise UsageError(row.fatal)
        if row.deferred and not warned:
            log.warning("embeddings deferred: %s", row.deferred)
            warned = True
        seen.add(row.source_id)
        yield row.ready(dim)
    for candidate in todo:
        if candidate.source_id not in seen:
            yield Ready(_crashed(candidate, options, plan.max_retries + 1))
