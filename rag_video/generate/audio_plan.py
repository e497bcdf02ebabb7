"""The sound side of a make's plan: narration spoken and the shots timed to it (and to the
music's beats), then the soundtrack and subtitles laid on the assembled segments.

1. :func:`timed_plan`: decide which shots speak (`narration.with_narration`), synthesise them
   (cached in the library's ``cache/speech``), lengthen each narrated shot to its speech plus a
   breath, and with ``--beat-sync`` move each cut to the nearest beat of the music within the
   tolerance, never below a narrated shot's speech. Returns the final plan and a
   :class:`ShotTiming` per shot (planned and final lengths, the cut before and after snapping).
2. :func:`soundtrack_for`: once the segments are known, where each shot starts in the output
   (the assembly's own frame rule), the narration placed there, its subtitle cues from the word
   timings, and the :class:`~rag_video.generate.soundtrack.SoundSpec` of the mix.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from rag_video.errors import UsageError
from rag_video.generate import narration
from rag_video.generate.manifest import Cue
from rag_video.generate.plan import Plan
from rag_video.generate.soundtrack import SAMPLE_RATE, SoundSpec, Voiceover, load_music

if TYPE_CHECKING:
    from rag_video.generate.assemble import Segment
    from rag_video.generate.options import MakeOptions
    from rag_video.generate.shot import ShotJob
    from rag_video.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotTiming:
    """How long one shot was planned, how long its speech is, and how long it is made; the cut
    that ends it before and after beat snapping (output seconds)."""

    index: int
    planned_s: float
    speech_s: float | None
    duration_s: float
    cut_planned_s: float
    cut_s: float
    on_beat: bool


@dataclass(frozen=True)
class TimedPlan:
    """A plan with its final durations, the speech of its narrated shots and their timings."""

    plan: Plan
    spoken: tuple[narration.Spoken, ...]
    timing: tuple[ShotTiming, ...]
    voice: str | None


def voice_name(opts: MakeOptions, plan: Plan) -> str:
    """``--voice``, else the script's ``voice:``, else the configured default."""
    return opts.voice or plan.voice or opts.default_voice


def timed_plan(plan: Plan, opts: MakeOptions, store: Store, fps: float) -> TimedPlan:
    """Narrate `plan` as `opts` ask and time its shots to the speech and the beats."""
    narrate = opts.narrate if opts.narrate is not None else (True if opts.voice else None)
    plan = narration.with_narration(plan, narrate)
    spoken: list[narration.Spoken] = []
    voice = None
    if narration.is_narrated(plan):
        if not opts.audio:
            raise UsageError("--no-audio: the script is narrated (add --no-narrate for silence)")
        from rag_video.voice import get_voice
        from rag_video.voice.cache import SpeechCache

        engine = get_voice(voice_name(opts, plan))
        voice = engine.name
        spoken = narration.speak(
            plan, engine, SpeechCache(store.root / "cache" / "speech"), rate=opts.speech_rate
        )
    planned = [s.duration_s for s in plan.shots]
    floors = narration.floors(plan, spoken, opts.breath)
    durations = [max(d, f) for d, f in zip(planned, floors, strict=True)]
    cuts = None
    if opts.beat_sync:
        durations, cuts = _snap(plan, opts, durations, floors, fps)
    final = narration.retimed(plan, durations) if durations != planned else plan
    speech = {s.shot: s.seconds for s in spoken}
    timing, end = [], 0.0
    for i, (shot, d) in enumerate(zip(final.shots, durations, strict=True)):
        end += d
        cut = cuts[i] if cuts is not None and i < len(cuts) else None
        timing.append(
            ShotTiming(
                index=i,
                planned_s=planned[i],
                speech_s=round(speech[i], 6) if i in speech else None,
                duration_s=shot.duration_s,
                cut_planned_s=round(cut.planned_s if cut else math.fsum(planned[: i + 1]), 6),
                cut_s=round(cut.snapped_s if cut else end, 6),
                on_beat=bool(cut and cut.beat),
            )
        )
    return TimedPlan(final, tuple(spoken), tuple(timing), voice)


def _snap(
    plan: Plan, opts: MakeOptions, durations: list[float], floors: list[float], fps: float
) -> tuple[list[float], list]:
    from rag_video.generate.beatsync import snap_cuts
    from rag_video.media.beats import beat_times

    music = opts.music or plan.music
    if music is None:
        raise UsageError("--beat-sync needs --music (or the script's music:)")
    seconds = math.fsum(durations) * (1 + opts.beat_tolerance) + 1.0
    track, _ = load_music(Path(music), int(seconds * SAMPLE_RATE), fade_out_s=0.0)
    beats = beat_times(track, SAMPLE_RATE)
    log.info("beat-sync: %d beats in %.1f s of %s", len(beats), seconds, music)
    snapped, cuts = snap_cuts(durations, floors, beats, tolerance=opts.beat_tolerance, fps=fps)
    return list(snapped), list(cuts)


def shot_spans(
    jobs: Sequence[ShotJob], segments: Sequence[Segment], fps: float
) -> dict[int, tuple[float, float]]:
    """Output (start, end) seconds of every shot, by the assembly's own frame rule (segments
    are the jobs' segments, in order)."""
    from rag_video.generate.timing import plan_segments, probe_all
    from rag_video.media.encode import frame_rate

    rate = frame_rate(fps)
    plans = plan_segments(segments, rate, "cut", 0.0, probe_all(segments))  # seams: no matter
    spans, k = {}, 0
    for job in jobs:
        n = len(job.source) if job.decision == "reuse" else 1
        first, last = plans[k], plans[k + n - 1]
        spans[job.index] = (float(Fraction(first.start) / rate), float(Fraction(last.end) / rate))
        k += n
    return spans


def soundtrack_for(
    timed: TimedPlan,
    spans: dict[int, tuple[float, float]],
    opts: MakeOptions,
    music: Path | None,
) -> tuple[SoundSpec, list[Cue] | None]:
    """The mix of a make and, when it is narrated, its subtitle cues (narration from the word
    timings, other shots' captions over their span); None: the shots' own captions."""
    from rag_video.generate.cues import word_cues

    voiceovers = tuple(
        Voiceover(spans[s.shot][0] + narration.LEAD_S, s.speech, s.text, str(s.path), s.shot)
        for s in timed.spoken
    )
    spec = SoundSpec(
        music=music if opts.audio else None,
        source_audio=opts.source_audio if opts.audio else "mute",
        narration=voiceovers,
        duck_db=opts.duck,
        target_lufs=opts.loudness,
        max_true_peak_dbtp=opts.true_peak,
        stems_dir=opts.stems,
        voice=timed.voice,
    )
    if not timed.spoken:
        return spec, None
    said = {s.shot: s for s in timed.spoken}
    cues: list[Cue] = []
    for shot in timed.plan.shots:
        start, end = spans[shot.index]
        if shot.index in said:
            s = said[shot.index]
            cues += word_cues(s.speech.words, s.text, offset_s=start + narration.LEAD_S, end_s=end)
        elif shot.caption:
            cues.append(Cue(start_s=start, end_s=end, text=shot.caption))
    return spec, cues


def generated_labels(
    jobs: Sequence[ShotJob], spans: dict[int, tuple[float, float]], text: str
) -> list[Cue]:
    """`text` over every restyled or filled shot's output span (``--label-generated``)."""
    return [
        Cue(start_s=spans[j.index][0], end_s=spans[j.index][1], text=text)
        for j in jobs
        if j.decision in ("restyle", "fill")
    ]


__all__ = [
    "generated_labels",
    "ShotTiming",
    "TimedPlan",
    "shot_spans",
    "soundtrack_for",
    "timed_plan",
    "voice_name",
]
