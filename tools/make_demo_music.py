"""Compose the music bed that `rag-video demo` lays under its narration
(``rag_video/samples/music/meadow.m4a``).

Run from the repository root::

    python tools/make_demo_music.py [--out rag_video/samples/music]

Eight bars at 100 BPM (19.2 s, so it loops on the bar) of a I–V–vi–IV progression in C major:
a soft chord pad, a plucked bass on every beat, a kick on every beat and a closed hi-hat on the
off-beats, synthesised with numpy and encoded as stereo AAC (PyAV only, no network, no ffmpeg
binary). Deterministic: the same file every run. It is original work released under CC0-1.0
(written into ``ATTRIBUTION.md`` beside it).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import av
import numpy as np

RATE = 48000
BPM = 100.0
BARS = 8
BEAT_S = 60.0 / BPM
# (root MIDI note of the bass, chord tones) per two bars: C, G, Am, F
CHORDS = [(36, (60, 64, 67)), (43, (59, 62, 67)), (45, (57, 60, 64)), (41, (57, 60, 65))]

ATTRIBUTION = """# Sample music: source and licence

`meadow.m4a`: an original 19.2-second loop (eight bars at 100 BPM, I–V–vi–IV in C major:
pad, bass, kick, hi-hat) synthesised by `tools/make_demo_music.py` in this repository.
Released under CC0-1.0 (https://creativecommons.org/publicdomain/zero/1.0/).
Regenerate with `python tools/make_demo_music.py`.
"""

log = logging.getLogger("make_demo_music")


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _envelope(n: int, attack: int, decay_s: float) -> np.ndarray:
    env = np.exp(-np.arange(n) / (decay_s * RATE))
    env[:attack] *= np.linspace(0, 1, attack)
    return env


def compose() -> np.ndarray:
    """The loop as float32 ``(2, n)`` samples at 48 kHz."""
    rng = np.random.default_rng(7)
    beats = int(BARS * 4)
    n = int(round(beats * BEAT_S * RATE))
    out = np.zeros((2, n))
    t = np.arange(n) / RATE
    beat_n = int(round(BEAT_S * RATE))
    for b in range(beats):
        lo = b * beat_n
        root, chord = CHORDS[(b // 8) % len(CHORDS)]
        # kick: a falling sine sweep
        k = min(int(0.25 * RATE), n - lo)
        tk = np.arange(k) / RATE
        sweep = 2 * np.pi * (50 * tk + 70 * (1 - np.exp(-tk * 30)) / 30)
        out[:, lo : lo + k] += 0.55 * np.sin(sweep) * np.exp(-tk * 12)
        # bass: a plucked root with two harmonics
        m = min(beat_n, n - lo)
        tb = np.arange(m) / RATE
        f = _hz(root)
        bass = np.sin(2 * np.pi * f * tb) + 0.3 * np.sin(4 * np.pi * f * tb)
        out[:, lo : lo + m] += 0.22 * bass * _envelope(m, 200, 0.35)
        # hi-hat on the off-beat: high-passed noise
        h0 = lo + beat_n // 2
        h = min(int(0.05 * RATE), n - h0)
        if h > 0:
            noise = np.diff(rng.standard_normal(h + 1))
            out[:, h0 : h0 + h] += 0.05 * noise * np.exp(-np.arange(h) / (0.012 * RATE))
    # pad: chord tones, slightly detuned left and right, swelling over each two bars
    span = 8 * beat_n
    for c in range(beats // 8):
        lo, hi = c * span, min(n, (c + 1) * span)
        tp = t[lo:hi] - t[lo]
        swell = np.sin(np.pi * np.clip(tp / (hi - lo) * RATE, 0, 1)) ** 0.5
        for note in CHORDS[c % len(CHORDS)][1]:
            f = _hz(note)
            out[0, lo:hi] += 0.06 * swell * np.sin(2 * np.pi * f * 0.998 * tp)
            out[1, lo:hi] += 0.06 * swell * np.sin(2 * np.pi * f * 1.002 * tp)
    out /= np.max(np.abs(out)) / 0.7
    return out.astype(np.float32)


def write_m4a(samples: np.ndarray, path: Path) -> None:
    """Encode ``(2, n)`` float32 samples as AAC 96 kb/s in an mp4 container."""
    tmp = path.with_name(f".{path.name}.tmp")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=RATE, layout="stereo")
        stream.bit_rate = 96_000
        step = 1024
        for i in range(0, samples.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, i : i + step]), format="fltp", layout="stereo"
            )
            frame.sample_rate = RATE
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("rag_video/samples/music"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    samples = compose()
    write_m4a(samples, args.out / "meadow.m4a")
    (args.out / "ATTRIBUTION.md").write_text(ATTRIBUTION, encoding="utf-8")
    log.info("wrote %s (%.1f s)", args.out / "meadow.m4a", samples.shape[1] / RATE)


if __name__ == "__main__":
    main()
