# Just over 400 lines, kept whole: the public front door, one thin method per operation that calls
# into its layer (prune's work is ingest.commit.prune, compaction Store.compact, make options
# MakeOptions.from_settings); about half the lines are the docstrings users read.
"""The public Python API: a library directory and what can be done with it.

lib = rag_video.open_library("lib")
lib.ingest(["footage/"])
lib.sql("select count(*) from shots")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rag_video import progress, schema
from rag_video.config import DETECTORS, Settings, load_settings
from rag_video.embed import config as encoders
from rag_video.errors import UsageError
from rag_video.generate.outputs import STORAGE  # what a library folder holds
from rag_video.ingest.analyze import IngestOptions
from rag_video.ingest.embedding import EmbedQueue, fill_embeddings
from rag_video.ingest.pipeline import IngestSummary
from rag_video.media.hwdecode import resolve_decode_device
from rag_video.store import Store

if TYPE_CHECKING:
    from rag_video.generate.options import MakeOptions
    from rag_video.stats import LibraryStats
    from rag_video.voice.base import Voices

log = logging.getLogger(__name__)


def open_library(
    path: str | Path | None = None, *, create: bool = True, **settings: Any
) -> Library:
    """Open the library at `path` (creating it when missing, unless `create` is False);
    `settings` override configured values."""
    return Library(load_settings(library=path, **settings), create=create)


class Library:
    """A footage library: its tables, index and generated media, behind one object.

    With `create=False` a missing library, or a folder that holds something else, is a
    UsageError instead of a new empty library (the CLI opens libraries this way except for
    ingest)."""

    def __init__(self, settings: Settings, *, create: bool = True):
        self.settings = settings
        if not create:
            _check_is_library(Path(settings.library).expanduser())
        self.store = Store(settings.library)
        self._searcher_obj = None  # built on first search: index manager and query encoder

    @property
    def path(self) -> Path:
        return self.store.root

    # ---- embeddings --------------------------------------------------------------------
    def _model_id(self, model: str, pretrained: str | None) -> str:
        return encoders.model_id(model, pretrained)

    def _check_model(self, model_id: str) -> None:
        current = encoders.table_encoder(self.store.dataset("shots"))
        if current and current.model_id != model_id:
            raise UsageError(
                f"library {self.path} is embedded with {current.model_id}, not {model_id}; "
                f"switch models with `rag-video embed --reembed --model ...`"
            )

    def load_encoder(
        self,
        model: str | None = None,
        pretrained: str | None = None,
        towers: Iterable[str] = ("image", "text"),
    ):
        """The library's encoder (the configured one unless named), with `towers` loaded."""
        from rag_video.embed import load_encoder

        return load_encoder(
            model or self.settings.model,
            _pretrained(pretrained or self.settings.pretrained),
            device=None if self.settings.device == "auto" else self.settings.device,
            precision=self.settings.precision,
            towers=tuple(towers),
        )

    def _embed_queue(self, embed: bool, model: str, pretrained: str) -> EmbedQueue:
        from rag_video.embed import model_dim

        dim = self.store.shots_dim() or model_dim(model) or schema.DEFAULT_DIM
        if not embed:
            return EmbedQueue(None, dim)
        self._check_model(self._model_id(model, _pretrained(pretrained)))

        def load():
            encoder = self.load_encoder(model, pretrained)
            if encoder.dim != dim:
                raise UsageError(
                    f"model {model} makes {encoder.dim}-d vectors but the shots table "
                    f"holds {dim}-d ones; use `rag-video embed --reembed --model {model}`"
                )
            return encoder

        return EmbedQueue(load, dim, self.settings.embed_batch)

    # ---- ingest ------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        detector: str | None = None,
        min_shot: float | None = None,
        embed: bool | None = None,
        model: str | None = None,
        pretrained: str | None = None,
        workers: int | None = None,
        ray: str | None = None,
    ) -> IngestSummary:
        """Cut, describe and (optionally) embed every video under `paths`.

        `ray`: None runs locally; "local" starts a local Ray for the run; "auto" or
        "ray://host:port" joins a running Ray cluster (the footage must be at the same path on
        every node; only this process writes the library). On Ray, `workers` caps concurrent
        files (None: the cluster's CPUs).
        """
        from rag_video.ingest.pipeline import Runner, ingest, local_runner

        s = self.settings
        detector = detector or s.detector
        if detector not in DETECTORS:
            raise UsageError(f"detector {detector!r} is not one of {', '.join(DETECTORS)}")
        options = IngestOptions(
            detector=detector,
            min_shot=s.min_shot if min_shot is None else min_shot,
            decode_device=s.decode_device,
        )
        resolve_decode_device(s.decode_device)  # decode_device=cuda without a GPU fails here
        queue = self._embed_queue(
            s.embed if embed is None else embed, model or s.model, pretrained or s.pretrained
        )
        runner: Runner
        if ray is None:
            runner = local_runner(queue, workers or s.workers)
        else:
            from rag_video.ingest.ray_runner import EncoderSpec, ray_runner

            spec = (
                None
                if queue.load is None
                else EncoderSpec(
                    model or s.model,
                    _pretrained(pretrained or s.pretrained),
                    queue.dim,
                    None if s.device == "auto" else s.device,
                    s.precision,
                )
            )
            runner = ray_runner(ray, spec, workers=workers)
        with self.store.writer(s.lock_timeout):
            summary = ingest(
                self.store,
                list(paths),
                options=options,
                runner=runner,
                dim=queue.dim,
                commit_batch=s.commit_batch,
            )
            self._refresh_text_index()
        return summary

    def _refresh_text_index(self) -> None:
        from rag_video.retrieve.fts import ensure_fts_index

        ensure_fts_index(self.store)

    def embed(
        self, *, model: str | None = None, pretrained: str | None = None, reembed: bool = False
    ) -> dict:
        """Fill deferred embeddings, or (reembed) embed every shot again with `model`."""
        model, pretrained = model or self.settings.model, pretrained or self.settings.pretrained
        with self.store.writer(self.settings.lock_timeout):
            if not reembed:
                self._check_model(self._model_id(model, _pretrained(pretrained)))
            encoder = self.load_encoder(model, pretrained)
            if reembed:
                self._reset_embeddings(encoder.dim)
                self._refresh_text_index()  # rewriting the table dropped its full-text index
            elif (self.store.shots_dim() or encoder.dim) != encoder.dim:
                raise UsageError(
                    f"model {model} makes {encoder.dim}-d vectors; the table holds "
                    f"{self.store.shots_dim()}-d ones: use --reembed"
                )
            todo = self.store.visible_shots(where="embedding IS NULL").to_pylist()
            with progress.bar(len(todo), "embed") as advance:
                done, problems = fill_embeddings(
                    self.store,
                    encoder,
                    todo,
                    advance=advance,
                )
        for problem in problems:
            log.warning("still deferred: %s", problem)
        return {
            "model": encoder.model_id,
            "embedded": done,
            "deferred": len(todo) - done,
            "problems": problems,
        }

    def _reset_embeddings(self, dim: int) -> None:
        shots = self.store.read("shots")
        shots = shots.drop_columns(["embedding", "embed_model"])
        rows = shots.to_pylist()
        self.store.replace_table("shots", schema.to_table(rows, schema.shots_schema(dim)))

    # ---- search ------------------------------------------------------------------------
    def _searcher(self):
        from rag_video.index.sync import IndexManager
        from rag_video.retrieve.query import Searcher

        if self._searcher_obj is None:
            index = IndexManager(
                self.store,
                index_type=self.settings.index_type,
                rebuild_share=self.settings.tombstone_share,
            )
            self._searcher_obj = Searcher(self.store, index, self.load_encoder)
        return self._searcher_obj

    def search(self, text: str | None = None, *, image=None, like: str | None = None, vector=None):
        """A shot query (builder): `.where()`, `.exclude()`, `.diversify()`, `.limit()`,
        `.to_arrow()`."""
        from rag_video.retrieve.query import ShotQuery

        return ShotQuery(self._searcher(), text=text, image=image, like=like, vector=vector)

    def search_many(self, texts=(), *, vectors=None, where: str | None = None, limit: int = 10):
        """Batched searches: one encoder batch and one index call for all queries; one result
        table per query. Like `search`, a library without embeddings answers text queries from
        full-text matches (score null)."""
        from rag_video.retrieve.batch import search_many

        return search_many(self._searcher(), texts=texts, vectors=vectors, where=where, limit=limit)

    def contact_sheet(self, rows: list[dict], path: str | Path) -> Path:
        """Write search result rows' thumbnails as one JPEG grid at `path`."""
        from rag_video.retrieve.sheet import contact_sheet

        return contact_sheet(rows, path)

    @staticmethod
    def voices() -> Voices:
        """The speech engines (available or not, with why) and the voices installed here."""
        from rag_video.voice import list_voices

        return list_voices()

    @staticmethod
    def models() -> list[str]:
        """The embedding model names open_clip knows, plus rag-video's own."""
        from rag_video.embed import list_models

        return list_models()

    def build_index(self, index_type: str | None = None) -> dict:
        """(Re)build the FAISS index and the full-text index from the shots table."""
        from rag_video.retrieve.fts import ensure_fts_index

        with self.store.writer(self.settings.lock_timeout):
            ensure_fts_index(self.store)
            self._searcher().index.build(index_type)
        return self.index_info()

    def index_info(self) -> dict:
        """What the index is: type, size, parameters, the table state it reflects."""
        return self._searcher().index.info()

    def optimize(self) -> dict:
        """Compact the Lance tables, fold new rows into their indices, rebuild the FAISS index."""
        from rag_video.retrieve.fts import ensure_fts_index

        with self.store.writer(self.settings.lock_timeout):
            self.store.compact(("sources", "shots", "renders"))
            ensure_fts_index(self.store)
            info = {}
            if self.store.embed_model():
                self._searcher().index.build()
                info = self.index_info()
        return {"index": info}

    # ---- make --------------------------------------------------------------------------
    def make_options(self, **fields: Any) -> MakeOptions:
        """One validated MakeOptions from `fields` (None means 'not given'): thresholds and
        diffusion models default to the library's settings, the rest to MakeOptions' defaults.
        A bad or unknown option is a UsageError naming it and its value."""
        from rag_video.generate.options import MakeOptions

        return MakeOptions.from_settings(self.settings, **fields)

    def make(
        self,
        script: str | Path | None,
        out: str | Path,
        options: MakeOptions | None = None,
        *,
        from_manifest: str | Path | None = None,
        **fields: Any,
    ) -> dict:
        """Render a script (or, with `from_manifest`, a saved plan) into `out`; returns the
        manifest.

        `options` from `make_options()`, or MakeOptions `fields` (final, aspect, size, fps, fit,
        transition, music, ...) given here, not both. With `from_manifest` and `fields`, the
        fields not given (or None) take the saved run's `options` (MakeOptions.replayed): a
        9:16 draft's final render stays 9:16."""
        import json

        from rag_video.generate.make import make
        from rag_video.generate.options import MakeOptions

        if options is not None and fields:
            raise UsageError(f"make: give options or {', '.join(sorted(fields))}, not both")
        saved = None
        if from_manifest is not None:
            try:
                saved = json.loads(Path(from_manifest).read_text())
            except (OSError, ValueError) as exc:
                raise UsageError(
                    f"--from {str(from_manifest)!r}: cannot read the manifest ({exc})"
                ) from None
        if options is not None:
            opts = options
        else:
            replay = MakeOptions.replayed(saved.get("options")) if isinstance(saved, dict) else {}
            given = {k: v for k, v in fields.items() if v is not None}
            opts = self.make_options(**{**replay, **given})
        return make(
            self._searcher(),
            script,
            out,
            opts,
            from_manifest=saved,
            lock_timeout=self.settings.lock_timeout,
        )

    def demo(self, out: str | Path) -> dict:
        """Ingest the bundled sample footage (a no-op when already there) and make `out` from the
        sample script; returns the manifest."""
        from rag_video.demo import run_demo

        return run_demo(self, out)

    # ---- maintenance -------------------------------------------------------------------
    def prune(self) -> dict:
        """Drop sources whose files (and every alias) are gone; move ones whose path went."""
        from rag_video.ingest.commit import prune

        with self.store.writer(self.settings.lock_timeout):
            return prune(self.store)

    # ---- reads -------------------------------------------------------------------------
    def sources(self) -> pa.Table:
        """Every `sources` row (ok and failed)."""
        return self.store.read("sources")

    def shots(self, where: str | None = None) -> pa.Table:
        """Visible shots (their source has an ok row), optionally filtered by a Lance predicate
        (one predicate: see index.predicate.check_predicate)."""
        from rag_video.index.predicate import check_predicate

        return self.store.visible_shots(where=check_predicate(where) if where else None)

    def sql(
        self, query: str, *, timeout: float | None = None, max_rows: int | None = None
    ) -> pa.Table:
        """Run a read-only SQL query over the library's tables (DuckDB); at most `max_rows` rows."""
        from rag_video.sql import DEFAULT_TIMEOUT_S, run_sql

        return run_sql(self.store, query, timeout=timeout or DEFAULT_TIMEOUT_S, max_rows=max_rows)

    def stats(self, *, top: int | None = None, timeout: float | None = None) -> LibraryStats:
        """The canned reports: hours, formats, coverage, usage, runs; `top` rows per report."""
        from rag_video.sql import DEFAULT_TIMEOUT_S
        from rag_video.stats import DEFAULT_TOP, compute_stats

        return compute_stats(
            self.store, top=top or DEFAULT_TOP, timeout=timeout or DEFAULT_TIMEOUT_S
        )


def _check_is_library(root: Path) -> None:
    if not root.exists():
        raise UsageError(
            f"library {str(root)!r} does not exist (check --library or RAG_VIDEO_LIBRARY; "
            "`rag-video ingest` creates a library)"
        )
    if not root.is_dir():
        raise UsageError(f"library {str(root)!r} is not a directory")
    try:
        foreign = any(root.iterdir()) and not any((root / name).exists() for name in STORAGE)
    except OSError as exc:
        raise UsageError(f"library {str(root)!r} cannot be read: {exc.strerror or exc}") from None
    if foreign:
        raise UsageError(
            f"library {str(root)!r} is not a rag-video library (no lance/ or meta.json in it)"
        )


def _pretrained(tag: str | None) -> str | None:
    return None if tag is None or tag.lower() == "none" else tag


def option_defaults(command: str) -> dict[str, Any]:
    """The defaults of a command's options that are not settings (config.Settings holds the
    others), by option name: "make" (MakeOptions' fields, plus the output's `fps` and `height`
    when the script names none), "sql" (`timeout`, `max_rows` of table output), "stats" (`top`).
    Imports what the command itself would, so a CLI asks only when it shows that help."""
    if command == "make":
        from dataclasses import MISSING, fields

        from rag_video.generate.make import DEFAULT_FPS, DEFAULT_HEIGHT
        from rag_video.generate.options import MakeOptions

        values = {f.name: f.default for f in fields(MakeOptions) if f.default is not MISSING}
        return values | {"fps": DEFAULT_FPS, "height": DEFAULT_HEIGHT}
    if command == "sql":
        from rag_video.sql import DEFAULT_TIMEOUT_S
        from rag_video.sqlformat import TABLE_ROW_LIMIT

        return {"timeout": DEFAULT_TIMEOUT_S, "max_rows": TABLE_ROW_LIMIT}
    if command == "stats":
        from rag_video.stats import DEFAULT_TOP

        return {"top": DEFAULT_TOP}
    raise ValueError(f"option_defaults: command {command!r} is not make, sql or stats")
