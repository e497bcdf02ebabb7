"""Coverage: how a planned shot longer than one matching source shot is covered, as an editor would.

A planned shot is an editor's beat, not one source shot. After the plan-wide assignment has given
every planned shot its best candidate (its *primary*), the methods below are tried in the order
``order`` names (default ``single, continue, montage, retime``), each over every shot not yet
covered, so a method that needs footage takes it plan-wide before the next method is tried:

- ``single``: the primary lasts at least the planned duration (it is trimmed to it later).
- ``continue``: the primary played on into its source's next shot(s), when those continue the
  scene (the caller's ``continues`` test) and no other planned shot uses them. A continuation that
  still falls short is kept: a later method cuts to another shot after it, or retimes it.
- ``montage``: several matching shots cut together. Extra shots are added in rounds, each round
  one plan-wide assignment (the same Hungarian assignment as the primaries) over the shots still
  short and the candidates nobody uses yet, scoring at least the shot's ``floor``; every sub-shot
  lasts at least ``min_cut`` and the planned duration is shared between them (equal shares, a
  shorter shot giving all it has).
- ``retime``: what the shot has (its primary, or its montage so far) slowed down to no less than
  ``MIN_SPEED``, or — when it lacks no more than ``HOLD_FRAMES`` frames — its last frame held.

A shot none of these covers is *uncovered*; the caller turns it into a fill (or, when the script
forces reuse or restyle, holds the last frame) and lists the candidates that were too short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_video.retrieve import assign

METHODS = ("single", "continue", "montage", "retime")
DEFAULT_ORDER = METHODS
MIN_SPEED = 0.75
HOLD_FRAMES = 6
MAX_CONTINUE = 3  # source shots one continued clip may span
_EPS = 1e-6


@dataclass
class Piece:
    """One clip of a covered shot: rows ``rows`` of one source played back to back as one range,
    ``length_s`` seconds of the output, at ``speed`` (1 = real time)."""

    rows: list[int]
    length_s: float = 0.0
    speed: float = 1.0


@dataclass
class Coverage:
    """How one planned shot is covered: its pieces in output order, the method and why."""

    pieces: list[Piece] = field(default_factory=list)
    method: str | None = None
    why: str = ""
    hold_s: float = 0.0  # seconds of held last frame at the end (retime by holding)

    @property
    def covered(self) -> bool:
        return self.method is not None


def parse_order(order: str | Sequence[str]) -> tuple[str, ...]:
    """``"single,continue,montage,retime"`` (any order, any subset) as a tuple; ValueError names
    it."""
    items = [
        m.strip() for m in (order.split(",") if isinstance(order, str) else order) if m.strip()
    ]
    bad = [m for m in items if m not in METHODS]
    if bad or not items or len(set(items)) != len(items):
        raise ValueError(
            f"coverage order must be distinct names from {', '.join(METHODS)}, got {order!r}"
        )
    return tuple(items)


def plays_real_time(cov: Coverage, real_time: frozenset[int]) -> bool:
    """Whether `cov` shows a column of `real_time` (footage never slowed or held)."""
    return any(j in real_time for p in cov.pieces for j in p.rows)


class Planner:
    """Covers every planned shot of ``durations`` from candidate ``rows`` (see the module doc).

    ``scores[i, j]``: candidate ``j`` for planned shot ``i`` (-inf: not allowed); ``primary[i]``:
    the assigned column or None (shots with None are not covered here); ``floor[i]``: the least
    score an extra montage shot of ``i`` needs; ``next_row(j)`` gives the column of the shot that
    follows candidate ``j`` in its source (adding it to ``rows``), ``continues(i, j, k)`` whether
    shot ``k`` continues ``j``'s scene for planned shot ``i``; columns in ``real_time`` are never
    retimed (slowed or held).
    """

    def __init__(
        self,
        durations: Sequence[float],
        rows: list[dict],
        scores: np.ndarray,
        primary: list[int | None],
        floor: Sequence[float],
        *,
        fps: float,
        min_cut: float,
        next_row: Callable[[int], int | None],
        continues: Callable[[int, int, int], bool],
        real_time: frozenset[int] = frozenset(),
    ) -> None:
        self.real_time = real_time  # columns never slowed or held (no-derivative licences)
        self.durations, self.rows, self.scores = list(durations), rows, scores
        self.floor, self.fps, self.min_cut = list(floor), fps, min_cut
        self.next_row, self.continues = next_row, continues
        self.used = {rows[j]["shot_id"] for j in primary if j is not None}
        self.cov = [Coverage([Piece([j])]) if j is not None else Coverage() for j in primary]

    def length(self, piece: Piece) -> float:
        return sum(self.rows[j]["duration_s"] for j in piece.rows)

    def total(self, i: int) -> float:
        return sum(self.length(p) for p in self.cov[i].pieces)

    def short(self, i: int) -> bool:
        return bool(self.cov[i].pieces) and not self.cov[i].covered

    def run(self, order: Sequence[str]) -> list[Coverage]:
        for method in order:
            getattr(self, f"_{method}")()
        for i, cov in enumerate(self.cov):
            if cov.covered:
                self._share(i)
        return self.cov

    # ---- the methods, each over every shot still short
    def _single(self) -> None:
        for i, cov in enumerate(self.cov):
            if self.short(i) and len(cov.pieces) == 1 and self.total(i) >= self.durations[i] - _EPS:
                cov.method, cov.why = "single", "one source shot long enough"

    def _continue(self) -> None:
        for i, cov in enumerate(self.cov):
            if not self.short(i) or len(cov.pieces) != 1:
                continue
            piece, added = cov.pieces[0], []
            while self.length(piece) < self.durations[i] - _EPS and len(piece.rows) < MAX_CONTINUE:
                k = self.next_row(piece.rows[-1])
                if (
                    k is None
                    or self.rows[k]["shot_id"] in self.used
                    or not self.continues(i, piece.rows[-1], k)
                ):
                    break
                piece.rows.append(k)
                added.append(k)
            self.used.update(
                self.rows[k]["shot_id"] for k in added
            )  # kept even when short: a later
            if self.length(piece) >= self.durations[i] - _EPS:  # method may cut or retime after it
                cov.method = "continue"
                cov.why = (
                    f"the matched shot continued into the next {len(added)} shot(s) of its source"
                )

    def _montage(self) -> None:
        started: set[int] = set()
        while True:
            need = [
                i
                for i in range(len(self.cov))
                if self.short(i) and self.total(i) < self.durations[i] - _EPS
            ]
            if not need:
                break
            free = np.asarray(
                [
                    r["shot_id"] not in self.used and r["duration_s"] >= self.min_cut - _EPS
                    for r in self.rows
                ]
            )
            sub = self.scores[need]
            with np.errstate(invalid="ignore"):
                ok = (
                    free[None, :]
                    & np.isfinite(sub)
                    & (sub >= np.asarray([self.floor[i] for i in need])[:, None])
                )
            allowed = np.where(ok, sub, -np.inf)
            columns = assign.assign_shots(
                allowed,
                candidate_source=[r["source_id"] for r in self.rows],
                candidate_start=[r["start_s"] for r in self.rows],
            )
            progress = False
            for r, i in enumerate(need):
                j = columns[r]
                if j is not None and self.rows[j]["shot_id"] not in self.used:
                    self.cov[i].pieces.append(Piece([j]))
                    self.used.add(self.rows[j]["shot_id"])
                    started.add(i)
                    progress = True
            if not progress:
                break
        for i in started:
            if (
                self.short(i)
                and self.total(i) >= self.durations[i] - _EPS
                and self._fits_min_cut(i)
            ):
                cov = self.cov[i]
                cov.method, cov.why = "montage", f"{len(cov.pieces)} matching shots cut together"

    def _retime(self) -> None:
        for i, cov in enumerate(self.cov):
            if not self.short(i) or self.fixed_speed(i):
                continue
            have, want = self.total(i), self.durations[i]
            if have >= want - _EPS:  # a montage whose shares broke --min-cut: drop its last shot
                self._drop_last(i)
                have = self.total(i)
            what = (
                f"{len(cov.pieces)} matching shots cut together"
                if len(cov.pieces) > 1
                else "the matched shot continued"
                if len(cov.pieces[0].rows) > 1
                else "the matched shot"
            )
            if want - have <= HOLD_FRAMES / self.fps + _EPS:
                cov.method, cov.hold_s = "hold", max(0.0, want - have)
                cov.why = f"{what}, {want - have:.2f} s short: the last frame is held"
            elif have / want >= MIN_SPEED - _EPS:
                speed = have / want
                for p in cov.pieces:
                    p.speed = speed
                cov.method, cov.why = (
                    "retime",
                    f"{what}, slowed to {speed:.2f}x to last {want:.2f} s",
                )

    # ---- helpers
    def fixed_speed(self, i: int) -> bool:
        """Whether shot ``i`` shows footage that must play at real time (``real_time``)."""
        return plays_real_time(self.cov[i], self.real_time)

    def _drop_last(self, i: int) -> None:
        cov = self.cov[i]
        while len(cov.pieces) > 1 and not self._fits_min_cut(i):
            gone = cov.pieces.pop()
            self.used.difference_update(self.rows[j]["shot_id"] for j in gone.rows)

    def _fits_min_cut(self, i: int) -> bool:
        lengths = self._shares(i, self.durations[i])
        return len(lengths) == 1 or min(lengths) >= self.min_cut - _EPS

    def _shares(self, i: int, want: float) -> list[float]:
        """Output seconds of each piece: equal shares of ``want``, capped at what a piece has."""
        have = [self.length(p) * (1.0 / p.speed) for p in self.cov[i].pieces]
        shares, left, open_ = [0.0] * len(have), want, list(range(len(have)))
        while open_ and left > _EPS:
            level = left / len(open_)
            capped = [k for k in open_ if have[k] - shares[k] <= level + _EPS]
            if not capped:
                for k in open_:
                    shares[k] += level
                break
            for k in capped:
                left -= have[k] - shares[k]
                shares[k] = have[k]
                open_.remove(k)
        return shares

    def _share(self, i: int) -> None:
        cov = self.cov[i]
        want = self.durations[i] - cov.hold_s
        for piece, share in zip(cov.pieces, self._shares(i, want), strict=False):
            piece.length_s = share
        if cov.hold_s:
            cov.pieces[-1].length_s += cov.hold_s


def hold_to(cov: Coverage, duration: float, rows: list[dict]) -> None:
    """Cover a forced shot with what it has: its pieces at real time, the last frame held to
    `duration`."""
    left = duration
    for piece in cov.pieces:
        piece.speed = 1.0
        piece.length_s = min(sum(rows[j]["duration_s"] for j in piece.rows), left)
        left -= piece.length_s
    cov.hold_s = max(0.0, left)
    cov.pieces[-1].length_s += cov.hold_s
    cov.method, cov.why = (
        "hold",
        "no combination reaches the planned duration: the last frame is held",
    )


def too_short(
    rows: list[dict], scores_row: np.ndarray, duration: float, limit: int = 5
) -> list[dict]:
    """The best candidates of a planned shot that no method could stretch to ``duration``."""
    order = np.argsort(-np.nan_to_num(scores_row, neginf=-9.0))
    out = []
    for j in order[:limit]:
        if np.isfinite(scores_row[j]) and rows[j]["duration_s"] < duration - _EPS:
            out.append(
                {
                    "shot_id": rows[j]["shot_id"],
                    "score": float(scores_row[j]),
                    "duration_s": rows[j]["duration_s"],
                    "why": f"lasts {rows[j]['duration_s']:.2f} s of {duration:.2f} s planned",
                }
            )
    return out
