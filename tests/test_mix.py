"""The mix of stems: music fitted to the video (loop with crossfaded seams, or trim; fades),
the speech envelope from the narration, ducking under it, summing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag_video.media import mix
from rag_video.media.loudness import integrated_lufs

RATE = 48000


def tone(seconds: float, freq: float = 440.0, amp: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1)).astype(np.float32)


def noise(seconds: float, amp: float = 0.1, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal((channels, int(seconds * RATE)))).astype(np.float32)


def db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


# --- fit_length ---------------------------------------------------------------------------


def test_trim_is_the_start_of_the_track_exactly() -> None:
    x = noise(3.0)
    out = mix.fit_length(x, RATE, RATE, fade_in_s=0, fade_out_s=0)
    assert out.shape == (2, RATE) and out.dtype == np.float32
    assert np.array_equal(out, x[:, :RATE])
    assert np.array_equal(mix.fit_length(x, x.shape[1], RATE, fade_in_s=0, fade_out_s=0), x)
    assert x.shape == (2, 3 * RATE)  # the input is not touched


@pytest.mark.parametrize("n", [RATE * 3 + 1234, RATE * 10, RATE + 1])
def test_loop_is_exactly_n_samples_repeating_the_track(n: int) -> None:
    x = noise(1.0)
    m, k = x.shape[1], int(0.05 * RATE)
    out = mix.fit_length(x, n, RATE, fade_in_s=0, fade_out_s=0)
    assert out.shape == (2, n) and out.dtype == np.float32
    assert np.array_equal(out[:, : m - k], x[:, : m - k])  # the first pass as it is
    period = m - k  # each pass starts where the last one's crossfade starts
    for start in range(period, n - m, period):  # the middle of every further pass is the track's
        assert np.array_equal(out[:, start + k : start + m - k], x[:, k : m - k])


def test_loop_seam_does_not_click() -> None:
    x = tone(1.013)  # not a whole number of periods: a plain repeat jumps at the seam
    n = 4 * RATE
    out = mix.fit_length(x, n, RATE, fade_in_s=0, fade_out_s=0)
    step = float(np.max(np.abs(np.diff(x[0]))))
    assert float(np.max(np.abs(np.diff(out[0])))) <= 1.5 * step
    plain = np.tile(x, (1, 4))[:, :n]
    assert float(np.max(np.abs(np.diff(plain[0])))) > 10 * step


def test_loop_seam_is_equal_power() -> None:
    x = noise(1.0)  # tail and head uncorrelated: an equal-power crossfade keeps the level
    m, k = x.shape[1], int(0.05 * RATE)
    out = mix.fit_length(x, 3 * RATE, RATE, fade_in_s=0, fade_out_s=0)
    seam = out[:, m - k : m]
    assert db(seam) == pytest.approx(db(x), abs=0.5)  # a linear crossfade would dip ~1.8 dB


def test_fades_in_and_out() -> None:
    x = np.ones((2, 2 * RATE), np.float32)
    out = mix.fit_length(x, 5 * RATE, RATE, loop_crossfade_s=0, fade_in_s=0.5, fade_out_s=1.0)
    assert out[0, 0] == 0 and out[0, -1] == 0
    assert out[0, RATE // 4] == pytest.approx(0.5, abs=1e-6)  # linear in: half way at 0.25 s
    assert out[0, RATE // 2] == 1.0
    assert out[0, 5 * RATE - RATE // 2] == pytest.approx(0.5, abs=1e-4)  # cosine out: half way
    assert np.all(np.diff(out[0, : RATE // 2]) > 0) and np.all(np.diff(out[0, -RATE:]) <= 0)
    default = mix.fit_length(x, 3 * RATE, RATE, loop_crossfade_s=0)  # declick in, 1 s out
    assert default[0, 0] == 0 and default[0, int(mix.DECLICK_S * RATE)] == 1.0
    assert default[0, 2 * RATE - 1] == 1.0 and default[0, 2 * RATE + RATE // 2] == pytest.approx(
        0.5, abs=1e-4
    )


def test_fit_length_edge_cases() -> None:
    assert np.array_equal(
        mix.fit_length(np.zeros((2, 0), np.float32), 100, RATE), np.zeros((2, 100))
    )
    assert mix.fit_length(noise(1.0), 0, RATE).shape == (2, 0)
    mono = mix.fit_length(noise(0.5, channels=1), 2 * RATE, RATE)
    assert mono.shape == (1, 2 * RATE)
    one = mix.fit_length(np.full((2, 1), 0.25, np.float32), 10, RATE, fade_in_s=0, fade_out_s=0)
    assert np.array_equal(one, np.full((2, 10), 0.25, np.float32))  # too short to crossfade
    short = np.arange(6, dtype=np.float32)[np.newaxis]  # crossfade capped at half the track
    out = mix.fit_length(short, 20, 1000, loop_crossfade_s=1.0, fade_in_s=0, fade_out_s=0)
    assert out.shape == (1, 20) and np.array_equal(out[0, :3], [0, 1, 2])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros(10, np.float32), 5, RATE), {}, "samples must be"),
        ((np.zeros((2, 10), np.int16), 5, RATE), {}, "samples must be float"),
        ((np.zeros((2, 10), np.float32), -1, RATE), {}, "n must be an int >= 0"),
        ((np.zeros((2, 10), np.float32), 5.0, RATE), {}, "n must be an int >= 0"),
        ((np.zeros((2, 10), np.float32), 5, 0), {}, "rate must be a positive int"),
        ((np.zeros((2, 10), np.float32), 5, RATE), {"loop_crossfade_s": -1}, "loop_crossfade_s"),
        ((np.zeros((2, 10), np.float32), 5, RATE), {"fade_in_s": math.nan}, "fade_in_s"),
        ((np.zeros((2, 10), np.float32), 5, RATE), {"fade_out_s": math.inf}, "fade_out_s"),
    ],
)
def test_fit_length_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mix.fit_length(*args, **kwargs)


# --- speech_envelope ----------------------------------------------------------------------


def burst_stem(spans: list[tuple[float, float]], seconds: float, amp: float = 0.1) -> np.ndarray:
    """Noise (``amp`` RMS) over each ``(start_s, end_s)``, silence elsewhere."""
    out = mix.silence(int(seconds * RATE))
    rng = np.random.default_rng(0)
    for a, b in spans:
        lo, hi = int(a * RATE), int(b * RATE)
        out[:, lo:hi] = amp * rng.standard_normal((2, hi - lo))
    return out


def at(env: np.ndarray, seconds: float) -> float:
    return float(env[int(round(seconds * RATE))])


def test_envelope_rises_over_the_attack_before_speech_and_falls_after_hold_and_release() -> None:
    env = mix.speech_envelope(burst_stem([(1.0, 2.0)], 4.0), RATE)
    attack, hold, release = 0.02, 0.15, 0.3  # the defaults
    assert env.shape == (4 * RATE,) and env.dtype == np.float32
    assert float(env.min()) == 0.0 and float(env.max()) == 1.0
    slack = mix.DETECTOR_S / 2 + 2 * mix.CONTROL_S  # the detector's window, the control grid
    assert not np.any(env[: int((1.0 - attack - slack) * RATE)])  # nothing before the attack
    assert 0 < at(env, 1.0 - attack / 2) < 1  # ramping up over the attack
    assert np.all(env[RATE : int((2.0 + hold) * RATE)] == 1.0)  # full from the onset on
    assert 0 < at(env, 2.0 + hold + release / 2) < 1  # releasing after the hold
    assert not np.any(env[int((2.0 + hold + release + slack) * RATE) :])
    assert np.all(np.diff(env[: int(1.5 * RATE)]) >= 0) and np.all(np.diff(env[2 * RATE :]) <= 0)


def test_envelope_holds_across_short_pauses_not_long_ones() -> None:
    short = mix.speech_envelope(burst_stem([(1.0, 1.5), (1.6, 2.0)], 3.0), RATE)
    assert np.all(short[RATE : 2 * RATE] == 1.0)  # 100 ms between words: stays down
    long = mix.speech_envelope(burst_stem([(1.0, 1.5), (2.5, 3.0)], 4.0), RATE)
    assert at(long, 2.0) == 0.0  # a second between sentences: back up
    timed = mix.speech_envelope(burst_stem([(1.0, 1.5)], 3.0), RATE, hold_s=0.5, release_s=0.1)
    assert at(timed, 1.95) == 1.0 and at(timed, 2.2) == 0.0


def test_envelope_threshold_channels_and_silence() -> None:
    quiet = burst_stem([(1.0, 2.0)], 3.0, amp=10 ** (-50 / 20))  # -50 dBFS: under -45
    assert not np.any(mix.speech_envelope(quiet, RATE))
    assert np.any(mix.speech_envelope(quiet, RATE, threshold_db=-55.0))
    stem = burst_stem([(1.0, 2.0)], 3.0)
    stereo = mix.speech_envelope(stem, RATE)
    assert np.array_equal(mix.speech_envelope(stem[0], RATE), stereo)  # (n,) is mono
    assert np.array_equal(mix.speech_envelope(stem[:1], RATE), stereo)
    silent = mix.speech_envelope(mix.silence(RATE), RATE)
    assert silent.shape == (RATE,) and not np.any(silent)
    assert mix.speech_envelope(mix.silence(0), RATE).shape == (0,)
    odd = mix.speech_envelope(stem[:, : 3 * 44100 // 2], 44100)  # a rate not a multiple of 1000
    assert odd.shape == (3 * 44100 // 2,) and odd.max() == 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((2, 2, 2), np.float32), RATE), {}, "sidechain must be"),
        ((np.zeros((2, 10), np.int16), RATE), {}, "sidechain must be float"),
        ((np.zeros((2, 10), np.float32), -5), {}, "rate must be a positive int"),
        ((np.zeros((2, 10), np.float32), RATE), {"threshold_db": math.nan}, "threshold_db"),
        ((np.zeros((2, 10), np.float32), RATE), {"attack_s": -0.1}, "attack_s"),
        ((np.zeros((2, 10), np.float32), RATE), {"release_s": math.inf}, "release_s"),
        ((np.zeros((2, 10), np.float32), RATE), {"hold_s": -1}, "hold_s"),
    ],
)
def test_speech_envelope_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mix.speech_envelope(*args, **kwargs)


# --- duck ---------------------------------------------------------------------------------


def test_duck_applies_the_depth_in_place() -> None:
    x = np.ones((2, 4), np.float32)
    env = np.array([0.0, 0.5, 1.0, 1.0], np.float32)
    out = mix.duck(x, env, 12.0)
    assert out is x
    assert np.allclose(x[0], [1.0, 10 ** (-6 / 20), 10 ** (-12 / 20), 10 ** (-12 / 20)], rtol=1e-6)
    y = np.ones((1, 4), np.float32)
    assert np.array_equal(mix.duck(y, env, 0.0), np.ones((1, 4)))
    assert float(mix.duck(np.ones((1, 1), np.float32), np.ones(1), 60.0)[0, 0]) == pytest.approx(
        1e-3, rel=1e-5
    )


def speechlike(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A narration stem: phrases of noise syllables (sin² envelopes, 20-120 ms gaps between
    them), with their sample spans, 1.5 s of silence between phrases."""
    rng = np.random.default_rng(seed)
    out, spans, pos = mix.silence(int(seconds * RATE)), [], int(1.0 * RATE)
    while pos < out.shape[1] - 3 * RATE:
        start = pos
        for _ in range(rng.integers(6, 12)):
            m = int(rng.uniform(0.08, 0.25) * RATE)
            shape = np.sin(np.linspace(0, np.pi, m)) ** 2 * rng.uniform(0.5, 1.0)
            out[:, pos : pos + m] = 0.1 * shape * rng.standard_normal(m)
            pos += m + int(rng.uniform(0.02, 0.12) * RATE)
        spans.append((start, pos))
        pos += int(1.5 * RATE)
    return out, spans


def ducked_by(music: np.ndarray, ducked: np.ndarray, spans: list[tuple[int, int]]) -> float:
    """dB the music is under speech below what it is away from speech (integrated LUFS)."""
    inside = np.concatenate([ducked[:, a:b] for a, b in spans], axis=1)
    away = np.ones(music.shape[1], bool)
    for a, b in spans:  # away from speech: outside the attack, the hold and the release
        away[max(0, a - RATE // 10) : b + int(0.6 * RATE)] = False
    return integrated_lufs(ducked[:, away].T, RATE) - integrated_lufs(inside.T, RATE)


def test_music_is_ducked_at_least_9_db_under_speech() -> None:
    narration, spans = speechlike(20.0)
    music = mix.fit_length(noise(3.7, 0.05, seed=7), narration.shape[1], RATE, fade_out_s=0)
    ducked = mix.duck(music.copy(), mix.speech_envelope(narration, RATE))  # default -12 dB
    assert len(spans) >= 3
    assert ducked_by(music, ducked, spans) >= 9.0
    away = ducked[:, spans[0][1] + RATE : spans[1][0] - RATE // 5]
    assert np.array_equal(away, music[:, spans[0][1] + RATE : spans[1][0] - RATE // 5])


def test_music_is_ducked_under_real_speech() -> None:
    pytest.importorskip("espeakng_loader")
    from scipy.signal import resample_poly

    from rag_video.voice import get_voice

    voice = get_voice("espeak:en-us")
    narration, spans, pos = mix.silence(16 * RATE), [], int(1.5 * RATE)
    for text in (
        "The quick brown fox jumps over the lazy dog, and then it runs away.",
        "Peter Piper picked a peck of pickled peppers. Where is the peck he picked?",
    ):
        speech = voice.synthesize(text)
        g = math.gcd(RATE, speech.sample_rate)
        y = resample_poly(speech.samples, RATE // g, speech.sample_rate // g).astype(np.float32)
        narration[:, pos : pos + y.shape[0]] = 0.5 * y
        voiced = np.nonzero(np.abs(y) > 1e-3)[0]
        spans.append((pos + int(voiced[0]), pos + int(voiced[-1])))
        pos += y.shape[0] + 3 * RATE
    music = mix.fit_length(noise(5.0, 0.05, seed=3), narration.shape[1], RATE, fade_out_s=0)
    ducked = mix.duck(music.copy(), mix.speech_envelope(narration, RATE))
    assert ducked_by(music, ducked, spans) >= 9.0


@pytest.mark.parametrize(
    ("samples", "envelope", "depth", "match"),
    [
        (np.ones(4, np.float32), np.ones(4), 12.0, "samples must be"),
        (np.ones((2, 4), np.float32), np.ones(5), 12.0, r"envelope must be \(4,\)"),
        (np.ones((2, 4), np.float32), np.ones((1, 4)), 12.0, "envelope must be"),
        (np.ones((2, 4), np.float32), np.ones(4), -1.0, "depth_db must be a number in 0..60"),
        (np.ones((2, 4), np.float32), np.ones(4), 61.0, "depth_db must be"),
        (np.ones((2, 4), np.float32), np.ones(4), math.nan, "depth_db must be"),
    ],
)
def test_duck_bad_arguments(
    samples: np.ndarray, envelope: np.ndarray, depth: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        mix.duck(samples, envelope, depth)


# --- mix ----------------------------------------------------------------------------------


def test_mix_sums_stems_into_a_new_array() -> None:
    a, b, c = noise(0.1, seed=1), noise(0.1, seed=2), noise(0.1, seed=3).astype(np.float64)
    before = a.copy()
    out = mix.mix([a, b, c])
    assert out.dtype == np.float32 and out.shape == a.shape and out is not a
    assert np.allclose(out, a + b + c, atol=1e-6)
    assert np.array_equal(a, before)
    assert np.array_equal(mix.mix([a]), a)


def test_mix_bad_arguments() -> None:
    with pytest.raises(ValueError, match="stems must hold at least one"):
        mix.mix([])
    with pytest.raises(ValueError, match=r"stems\[1\] must have shape \(2, 4800\)"):
        mix.mix([noise(0.1), noise(0.2)])
    with pytest.raises(ValueError, match=r"stems\[0\] must be \(channels, n\)"):
        mix.mix([np.zeros(10, np.float32)])
    with pytest.raises(ValueError, match=r"stems\[1\] must be float"):
        mix.mix([np.zeros((2, 3), np.float32), np.zeros((2, 3), np.int16)])
