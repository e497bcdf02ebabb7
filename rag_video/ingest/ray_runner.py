"""The Ray runner: the local pipeline's per-file work mapped over files with Ray Data.

    files ─► ray.data.from_items (one block per file)
          ─► .map(analyze)                 tasks: probe → one decode → shots → keyframes → stats
          ─► .map_batches(EmbedActor, …)   actor pool: encoder loaded once per actor (GPU if any)
          ─► driver: iter_rows → Ready tuples → Ingest commits (sources row as commit marker)

Workers only compute and return rows; the driver commits, one source at a time, exactly as with
the local runner, so a killed job leaves whole sources only and a rerun finishes the rest. Rows
cross Ray as bytes (pickled `FileResult` without images; keyframes as lossless PNG), so blocks are
plain Arrow binary columns and the pixels the encoder sees are the local runner's pixels.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag_video import schema
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
def pack(result: FileResult, keep_keyframes: bool) -> dict[str, Any]:
    """A result as an Arrow-friendly row: the rows pickled, keyframes as lossless PNG bytes."""
    keyframes = (
        [[encode_rgb(img) for img in shot] for shot in result.keyframes]
        if keep_keyframes and result.ok
        else []
    )
    bare = replace(result, keyframes=[])
    return {
        "source_id": result.source["source_id"],
        "result": pickle.dumps(bare, protocol=5),
        "keyframes": pickle.dumps(keyframes, protocol=5),
    }


def unpack_result(row: dict[str, Any]) -> FileResult:
    """The FileResult of a packed row (without keyframes: the driver only commits rows)."""
    return pickle.loads(row["result"])


def unpack_keyframes(row: dict[str, Any]) -> list[list[np.ndarray]]:
    """The keyframe images of a packed row, pixel-identical to the analysed ones."""
    return [
        [decode_rgb(data, "keyframe") for data in shot] for shot in pickle.loads(row["keyframes"])
    ]


# ---- worker side ---------------------------------------------------------------------------
def analyze_row(
    row: dict[str, Any], *, options: IngestOptions, keep_keyframes: bool
) -> dict[str, Any]:
    """Ray Data `map` function: one candidate row in, one packed result row out."""
    candidate = Candidate(
        Path(row["path"]), int(row["size"]), float(row["mtime"]), row["source_id"]
    )
    return pack(run_worker(candidate, options), keep_keyframes)


class EmbedActor:
    """Ray Data `map_batches` class: loads the encoder once, embeds the shots of a batch of files.

    Output rows add `vectors` (float32 bytes, shots × dim), `model_id`, `deferred` (why embeddings
    were deferred, or "") and `fatal` (a usage error the driver must raise, or "").
    """

    def __init__(self, spec: EncoderSpec):
        from rag_video.embed import EncoderUnavailable

        self.encoder, self.deferred, self.fatal = None, "", ""
        try:
            self.encoder = spec.load()
        except EncoderUnavailable as exc:
            self.deferred = str(exc)
        except RagVideoError as exc:
            self.fatal = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from rag_video.ingest.embedding import shot_vectors

        keys = ("source_id", "result", "keyframes")
        rows = [{k: batch[k][i] for k in keys} for i in range(len(batch["source_id"]))]
        images = [unpack_keyframes(r) for r in rows]
        flat = [shot for per_file in images for shot in per_file]
        vectors = shot_vectors(self.encoder, flat) if self.encoder is not None and flat else None
        model_id = self.encoder.model_id if self.encoder is not None else ""
        out: dict[str, list[Any]] = {
            "source_id": [],
            "result": [],
            "vectors": [],
            "model_id": [],
            "deferred": [],
            "fatal": [],
        }
        at = 0
        for row, per_file in zip(rows, images, strict=False):
            mine = vectors[at : at + len(per_file)] if vectors is not None and per_file else None
            out["source_id"].append(row["source_id"])
            out["result"].append(row["result"])
            out["vectors"].append(mine.tobytes() if mine is not None else b"")
            out["model_id"].append(model_id if mine is not None else "")
            out["deferred"].append(self.deferred)
            out["fatal"].append(self.fatal)
            at += len(per_file)
        return out


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
    items = [
        {"path": str(c.path), "size": c.size, "mtime": c.mtime, "source_id": c.source_id}
        for c in todo
    ]
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


def _ready(row: dict[str, Any], dim: int) -> Ready:
    result = unpack_result(row)
    vectors = row.get("vectors") or b""
    if not vectors:
        return result, None, None
    return (
        result,
        np.frombuffer(vectors, np.float32).reshape(len(result.shots), dim),
        row["model_id"],
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
    for row in ds.iter_rows():
        if row.get("fatal"):
            raise UsageError(row["fatal"])
        if row.get("deferred") and not warned:
            log.warning("embeddings deferred: %s", row["deferred"])
            warned = True
        seen.add(row["source_id"])
        yield _ready(row, dim)
    for candidate in todo:
        if candidate.source_id not in seen:
            yield _crashed(candidate, options, plan.max_retries + 1), None, None
