"""SubRip (.srt) parsing, shared by sidecar ingest and SRT scripts."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIME = r"(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_CUE_TIMES = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")


class SubtitleError(ValueError):
    """An SRT file that cannot be parsed; the message names the cue."""


@dataclass(frozen=True)
class Cue:
    index: int  # 1-based position in the file
    start_s: float
    end_s: float
    text: str  # as written, tags kept

    @property
    def plain(self) -> str:
        """The text without markup tags, on one line."""
        return " ".join(strip_tags(self.text).split())


def strip_tags(text: str) -> str:
    """Subtitle text without its markup (<i>, <font …>, {\\an8})."""
    return _TAGS.sub("", text)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT document, in file order. Raises SubtitleError on a malformed timing line."""
    cues = []
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\ufeff", "").strip())
    for number, block in enumerate(b for b in blocks if b.strip()):
        lines = block.strip().split("\n")
        if lines[0].strip().isdigit():
            lines = lines[1:]
        match = _CUE_TIMES.match(lines[0]) if lines else None
        if not match:
            raise SubtitleError(
                f"cue {number + 1}: bad timing line {lines[0][:40]!r}"
                if lines
                else f"cue {number + 1}: empty"
            )
        g = match.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        if end <= start:
            raise SubtitleError(
                f"cue {number + 1}: ends at {end:.3f}s, not after its start {start:.3f}s"
            )
        cues.append(Cue(number + 1, start, end, "\n".join(lines[1:]).strip()))
    return cues


def srt_time(seconds: float) -> str:
    """``HH:MM:SS,mmm`` of a time in seconds (rounded to the millisecond)."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def format_srt(cues: list[tuple[float, float, str]]) -> str:
    """SubRip text of ``(start_s, end_s, text)`` cues; empty texts skipped, numbered from 1."""
    blocks: list[str] = []
    for start, end, text in cues:
        lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        if lines:
            blocks.append(
                f"{len(blocks) + 1}\n{srt_time(start)} --> {srt_time(end)}\n"
                + "\n".join(lines)
                + "\n"
            )
    return "\n".join(blocks)
