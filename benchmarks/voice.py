"""Voice benchmark: seconds of speech synthesised per second of wall time, for each installed
engine (the default voice of each; a Piper voice only when its weights are in the voices dir).

Each engine speaks a fixed ~120-word paragraph ``--repeats`` times after one warm-up call (the
load and first call are reported apart). Prints one JSON line with the machine (platform, CPU
count) and the load average before and after.

    python benchmarks/voice.py [--repeats 3] [--voice espeak:en-us --voice piper:NAME]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from typing import Any

TEXT = (
    "Every script to video tool speaks the script. News, explainer and advertising videos are "
    "narrated, and the cuts follow the voice. This paragraph is long enough to measure how fast "
    "an engine turns text into speech on this machine: it holds several sentences, commas, "
    "numbers like 1999 and 42, and words both short and long. A narrated shot lasts at least "
    "its narration plus a short breath, and the subtitles come from the word timings, split into "
    "readable cues. The music ducks under the voice, and the final mix is normalised to a "
    "loudness target, measured with a BS.1770 meter, so that every video sounds as loud as the "
    "last one and no click is heard at the cuts."
)

DEFAULT_VOICES = ("espeak:en-us", "piper:en_US-lessac-medium")


def bench(name: str, repeats: int) -> dict[str, Any]:
    """Load ``name``, warm it up, then time ``repeats`` syntheses of :data:`TEXT`."""
    from rag_video.voice import VoiceUnavailable, get_voice

    t0 = time.perf_counter()
    try:
        voice = get_voice(name)
    except VoiceUnavailable as exc:
        return {"voice": name, "skipped": str(exc)}
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    voice.synthesize(TEXT)
    first_s = time.perf_counter() - t0
    speech_s, wall_s = 0.0, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        speech = voice.synthesize(TEXT)
        wall_s += time.perf_counter() - t0
        speech_s += speech.duration_s
    return {
        "voice": voice.name,
        "load_s": round(load_s, 3),
        "first_call_s": round(first_s, 3),
        "speech_s_per_call": round(speech_s / repeats, 2),
        "wall_s_per_call": round(wall_s / repeats, 4),
        "speech_s_per_s": round(speech_s / wall_s, 1),
        "timing": speech.timing,
        "words": len(speech.words),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--voice", action="append", help="voices to time (default: each engine's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    voices = args.voice or list(DEFAULT_VOICES)
    load_before = os.getloadavg()
    runs = [bench(v, args.repeats) for v in voices]
    doc = {
        "benchmark": "voice",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "repeats": args.repeats,
        "runs": runs,
    }
    print(json.dumps(doc))  # noqa: T201  (the benchmark's one result line)


if __name__ == "__main__":
    main()
