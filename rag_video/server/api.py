"""The JSON API under ``/api/`` (the pages use it; scripts may too, with the token as a Bearer
header) and the media routes under ``/media/``: every file by id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from rag_video.generate.revise import ShotChange
from rag_video.server.filters import SearchRequest
from rag_video.server.media import file_response
from rag_video.server.security import check_csrf
from rag_video.server.state import MAX_UPLOAD_BYTES, ServerState

api = APIRouter(prefix="/api", tags=["api"])
media = APIRouter(prefix="/media", tags=["media"])
MAX_SQL_ROWS = 1000


def state(request: Request) -> ServerState:
    return request.app.state.rv


State = Annotated[ServerState, Depends(state)]


class SqlRequest(BaseModel):
    query: str = Field(max_length=20_000)
    max_rows: int = Field(default=200, ge=1, le=MAX_SQL_ROWS)


class RerenderRequest(BaseModel):
    shots: dict[int, ShotChange] = Field(min_length=1)


@api.get("/search")
def search_get(st: State, req: Annotated[SearchRequest, Depends()]) -> dict[str, Any]:
    """Search by text (``q``) or likeness (``like``), with filters."""
    return st.search(req)


@api.post("/search", dependencies=[Depends(check_csrf)])
async def search_image(
    request: Request,
    st: State,
    image: Annotated[UploadFile, File()],
    params: Annotated[str, Form()] = "{}",
) -> dict[str, Any]:
    """Search by an uploaded image (JPEG, PNG or WebP, at most 8 MiB; never stored in the
    library), with the filters of GET /api/search as a JSON form field ``params``."""
    data = await image.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"image: larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    try:
        req = SearchRequest.model_validate(json.loads(params))
    except ValueError as exc:
        raise HTTPException(422, f"params: {exc}") from None
    return await run_in_threadpool(st.search, req, data)


@api.get("/shots/{shot_id}")
def shot(st: State, shot_id: str) -> dict[str, Any]:
    return st.shot(shot_id)


@api.get("/sources")
def sources(st: State) -> list[dict[str, Any]]:
    """Every source, failed ones first, with status, error and shot count."""
    return st.sources()


@api.get("/sources/{source_id}")
def source(st: State, source_id: str) -> dict[str, Any]:
    return {**st.source(source_id), "shots": st.source_shots(source_id)}


@api.get("/runs")
def runs(st: State) -> list[dict[str, Any]]:
    """Every make run, newest first."""
    return st.runs()


@api.get("/runs/{run_id}")
def run(st: State, run_id: str) -> dict[str, Any]:
    """A run: its row, its manifest and the URLs of its files."""
    return st.run(run_id)


@api.post("/runs/{run_id}/rerender", status_code=202, dependencies=[Depends(check_csrf)])
def rerender(st: State, run_id: str, body: RerenderRequest) -> dict[str, Any]:
    """Re-render a run's draft with changed shots; returns the job to follow."""
    job = st.rerender(run_id, dict(body.shots))
    return {"job_id": job.job_id, "events": f"/api/jobs/{job.job_id}/events"}


@api.get("/jobs/{job_id}")
def job(st: State, job_id: str) -> dict[str, Any]:
    return st.job(job_id).to_json()


@api.get("/jobs/{job_id}/events")
async def job_events(st: State, job_id: str) -> StreamingResponse:
    """The job's progress as server-sent events, from its first event to its last."""
    found = st.job(job_id)

    def lines() -> Iterator[str]:
        for event in found.follow():
            yield ": keep-alive\n\n" if event is None else f"data: {json.dumps(event)}\n\n"

    return StreamingResponse(
        iterate_in_threadpool(lines()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@api.post("/sql", dependencies=[Depends(check_csrf)])
def sql(st: State, body: SqlRequest) -> dict[str, Any]:
    """One read-only statement in the same sandbox as ``rag-video sql``."""
    from rag_video.jsonable import to_jsonable
    from rag_video.sql import display_columns

    table = st.library.sql(body.query, max_rows=body.max_rows + 1)
    shown = display_columns(table, body.query)  # bulky columns only when named, as in the CLI
    rows = shown.slice(0, body.max_rows).to_pylist()
    return {
        "columns": shown.column_names,
        "rows": to_jsonable(rows, finite=True),
        "truncated": table.num_rows > body.max_rows,
    }


@api.get("/stats")
def stats(st: State) -> dict[str, Any]:
    return st.library.stats().to_json()


@media.get("/thumb/{shot_id}")
def thumb(st: State, shot_id: str) -> Response:
    return Response(
        st.thumbnail(shot_id), media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"}
    )


@media.get("/source/{source_id}")
async def source_file(st: State, source_id: str) -> Response:
    """The source's video for the browser, byte ranges honoured; a 202 with the proxy's progress
    while a proxy is being made (codecs browsers cannot play)."""
    path, proxy = await run_in_threadpool(st.source_media, source_id)
    if path is None:
        return JSONResponse({"proxy": proxy}, status_code=202, headers={"Retry-After": "1"})
    response = file_response(path)
    response.headers["X-Proxy"] = proxy["status"]
    return response


@media.get("/proxy/{source_id}")
async def proxy_state(st: State, source_id: str) -> dict[str, Any]:
    """The proxy's state (starting its build), without the bytes."""
    _, proxy = await run_in_threadpool(st.source_media, source_id)
    return {"proxy": proxy}


@media.get("/run/{run_id}/{kind}")
def run_file(st: State, run_id: str, kind: str) -> Response:
    """A run's file by kind: video, manifest, otio, srt, html, credits."""
    path = st.run_file(run_id, kind)
    kinds = {
        "manifest": "application/json",
        "otio": "application/json",
        "srt": "text/plain; charset=utf-8",
        "html": "text/html; charset=utf-8",
        "credits": "text/plain; charset=utf-8",
    }
    return file_response(path, kinds.get(kind), attachment=kind != "video")
