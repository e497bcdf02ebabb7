"""The loudness helper: BS.1770 integrated loudness, true peak on oversampled audio, normalise."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from rag_video.media.loudness import (
    integrated_lufs,
    measure,
    normalize,
    normalize_gain_db,
    oversampling,
    true_peak_dbtp,
)

RATE = 48000


def sine(freq: float, amp: float = 1.0, seconds: float = 5.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return amp * np.sin(2 * np.pi * freq * t + phase)


@pytest.mark.parametrize(("amp", "lufs"), [(1.0, -3.01), (0.5, -9.03), (0.1, -23.01)])
def test_997_hz_sine_has_the_bs1770_loudness(amp: float, lufs: float) -> None:
    assert integrated_lufs(sine(997, amp), RATE) == pytest.approx(lufs, abs=0.1)


def test_multichannel_sums_channel_power() -> None:
    mono = sine(997, 0.5)
    stereo = np.stack([mono, mono], axis=1)
    assert integrated_lufs(stereo, RATE) == pytest.approx(
        integrated_lufs(mono, RATE) + 3.01, abs=0.05
    )
    assert true_peak_dbtp(stereo, RATE) == pytest.approx(true_peak_dbtp(mono, RATE), abs=1e-6)
    out = normalize(stereo.astype(np.float32), RATE, -20.0)
    assert out.shape == stereo.shape and out.dtype == np.float32
    assert integrated_lufs(out, RATE) == pytest.approx(-20.0, abs=0.5)


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_normalize_lands_on_the_target(target: float) -> None:
    rng = np.random.default_rng(0)
    speechy = sine(220, 0.05) * (1 + np.sin(2 * np.pi * 3 * np.arange(5 * RATE) / RATE))
    noisy = (speechy + 0.01 * rng.standard_normal(speechy.shape)).astype(np.float32)
    out = normalize(noisy, RATE, target_lufs=target, max_true_peak_dbtp=-1.0)
    assert integrated_lufs(out, RATE) == pytest.approx(target, abs=0.5)
    assert true_peak_dbtp(out, RATE) <= -1.0 + 1e-6


def test_normalize_stops_at_the_true_peak_ceiling() -> None:
    clicks = np.zeros(RATE * 2)
    clicks[:: RATE // 4] = 0.5  # very peaky, very quiet: the ceiling wins over the target
    gain = normalize_gain_db(clicks, RATE, -14.0, -1.0)
    out = normalize(clicks, RATE, -14.0, -1.0)
    assert out.dtype == np.float64
    assert true_peak_dbtp(out, RATE) == pytest.approx(-1.0, abs=1e-6)
    assert integrated_lufs(out, RATE) < -14.5
    assert gain == pytest.approx(-1.0 - true_peak_dbtp(clicks, RATE))


def test_inter_sample_peak_is_detected() -> None:
    x = sine(RATE / 4, 0.9, seconds=1.0, phase=math.pi / 4)  # samples at ±0.9·sin(45°)
    sample_peak = 20 * math.log10(float(np.max(np.abs(x))))
    assert sample_peak == pytest.approx(20 * math.log10(0.9) - 3.01, abs=0.01)
    assert true_peak_dbtp(x, RATE) > sample_peak + 2.5
    assert true_peak_dbtp(x, RATE) == pytest.approx(20 * math.log10(0.9), abs=0.3)


def test_oversampling_reaches_176k() -> None:
    assert oversampling(48000) == 4 and oversampling(44100) == 4
    assert oversampling(22050) == 8 and oversampling(16000) == 12


def test_silence_is_minus_infinity_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for silence in (np.zeros(RATE), np.zeros((RATE, 2)), np.zeros(0), np.full(RATE, 1e-9)):
            assert integrated_lufs(silence, RATE) == -math.inf
            assert true_peak_dbtp(silence, RATE) <= -170
        assert np.array_equal(normalize(np.zeros(RATE), RATE), np.zeros(RATE))
        loud = measure(np.zeros(RATE, np.float32), RATE)
        assert loud.integrated_lufs == -math.inf and loud.duration_s == 1.0


def test_short_audio_is_one_block() -> None:
    x = sine(997, 0.5, seconds=0.1)
    assert integrated_lufs(x, RATE) == pytest.approx(-9.03, abs=0.2)


@pytest.mark.parametrize(
    ("samples", "rate", "match"),
    [
        (np.zeros((10, 2, 2)), RATE, "samples must be"),
        (np.zeros(10, np.int16), RATE, "samples must be float"),
        (np.zeros(10), 0, "rate must be a positive int"),
        (np.array([0.0, np.nan]), RATE, "samples must be finite"),
        (np.zeros((10, 6)), RATE, "at most 5 channels"),
    ],
)
def test_bad_input_names_the_argument(samples: np.ndarray, rate: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        integrated_lufs(samples, rate)


def test_bad_target_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^target_lufs must be a finite number <= 0, got 3"):
        normalize(sine(440), RATE, target_lufs=3)


# --- true peak in chunks, the limiter, mastering -------------------------------------------


def test_true_peak_in_chunks_is_the_whole_signal_oversampled() -> None:
    from scipy.signal import resample_poly

    from rag_video.media import loudness

    rng = np.random.default_rng(3)
    for n, rate, shape in (
        (3 * loudness.CHUNK + 17, RATE, (2,)),
        (70001, 22050, ()),
        (7, RATE, ()),
    ):
        x = 0.3 * rng.standard_normal((n, *shape))
        whole = np.abs(resample_poly(x, oversampling(rate), 1, axis=0)).max()
        assert true_peak_dbtp(x, rate) == 20 * math.log10(max(whole, np.abs(x).max()))


def bursts(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Speech-like: syllables of noise with sin² envelopes, levels 0.5..1, 30-250 ms apart
    (crest factor of speech: the true peak ~19 dB over the integrated loudness)."""
    rng = np.random.default_rng(seed)
    x, pos = np.zeros(int(seconds * rate)), int(0.05 * rate)
    while pos < x.shape[0] - int(0.05 * rate):
        m = min(int(rng.uniform(0.08, 0.25) * rate), x.shape[0] - pos)
        shape = np.sin(np.linspace(0, np.pi, m)) ** 2 * rng.uniform(0.5, 1.0)
        x[pos : pos + m] += shape * rng.standard_normal(m)
        pos += m + int(rng.uniform(0.03, 0.25) * rate)
    return (0.05 * x).astype(np.float32)


def espeak_speech() -> tuple[np.ndarray, int]:
    pytest.importorskip("espeakng_loader")
    from rag_video.voice import get_voice

    speech = get_voice("espeak:en-us").synthesize(
        "The quick brown fox jumps over the lazy dog. Peter Piper picked a peck of pickled "
        "peppers, and then he went home to rest."
    )
    return speech.samples, speech.sample_rate


def music(seconds: float) -> np.ndarray:
    """A stereo bed: a chord with a slow swell, and some noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    chord = sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate((110.0, 164.8, 220.0, 277.2)))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t)
    rng = np.random.default_rng(1)
    left = 0.1 * chord * swell + 0.02 * rng.standard_normal(t.shape)
    right = 0.1 * np.roll(chord, 240) * swell + 0.02 * rng.standard_normal(t.shape)
    return np.stack([left, right], axis=1).astype(np.float32)


def square(seconds: float, amp: float = 1.0) -> np.ndarray:
    """A naive square wave: its true peak is ~2 dB over its sample peak."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.tile(amp * np.sign(np.sin(2 * np.pi * 441 * t + 0.1))[:, np.newaxis], (1, 2)).astype(
        np.float32
    )


def signal(name: str) -> tuple[np.ndarray, int]:
    if name == "espeak":
        return espeak_speech()
    if name == "speech-like":
        return bursts(8.0), RATE
    if name == "music":
        return music(8.0), RATE
    if name == "speech+music":
        return 4 * np.tile(bursts(8.0)[:, np.newaxis], (1, 2)) + 0.3 * music(8.0), RATE
    if name == "square":
        return square(3.0), RATE
    assert name == "short"
    return bursts(0.3, seed=5), RATE


SIGNALS = ["espeak", "speech-like", "music", "speech+music", "square", "short"]


@pytest.mark.parametrize("target", [-14.0, -23.0])
@pytest.mark.parametrize("name", SIGNALS)
def test_master_lands_on_the_target_under_the_ceiling(name: str, target: float) -> None:
    from rag_video.media.loudness import master

    x, rate = signal(name)
    assert math.isfinite(integrated_lufs(x, rate))
    out, loud = master(x, rate, target_lufs=target, max_true_peak_dbtp=-1.0)
    assert out.shape == x.shape and out.dtype == np.float32
    assert integrated_lufs(out, rate) == pytest.approx(target, abs=0.5)
    assert abs(integrated_lufs(out, rate) - target) <= 0.1  # what master aims at
    assert true_peak_dbtp(out, rate) <= -1.0
    assert loud == measure(out, rate)


def test_master_limits_speech_at_minus_14() -> None:
    from rag_video.media.loudness import master

    x = bursts(8.0)
    assert true_peak_dbtp(x, RATE) - integrated_lufs(x, RATE) > 16  # peaks far over loudness
    plain = normalize(x, RATE, -14.0, -1.0)  # one gain: stopped by the ceiling
    assert integrated_lufs(plain, RATE) < -16.0
    out, loud = master(x, RATE, -14.0, -1.0)
    assert loud.integrated_lufs == pytest.approx(-14.0, abs=0.1)
    assert loud.true_peak_dbtp <= -1.0


def test_master_takes_a_transposed_mix_and_keeps_its_layout() -> None:
    from rag_video.media.loudness import master

    stems = np.ascontiguousarray(music(3.0).T)  # (2, n) as rag_video.media.mix has it
    out, loud = master(stems.T, RATE)
    assert out.shape == (stems.shape[1], 2) and out.T.flags.c_contiguous
    assert loud.integrated_lufs == pytest.approx(-14.0, abs=0.1)
    as64, _ = master(stems.T.astype(np.float64), RATE)
    assert as64.dtype == np.float64


def test_master_gives_silence_back_unchanged() -> None:
    from rag_video.media.loudness import master

    for silent in (np.zeros((RATE, 2), np.float32), np.full(RATE, 1e-9, np.float32), np.zeros(0)):
        out, loud = master(silent, RATE)
        assert np.array_equal(out, silent) and out is not silent
        assert loud.integrated_lufs == -math.inf and loud.duration_s == silent.shape[0] / RATE


def test_master_warns_when_the_target_is_out_of_reach(caplog: pytest.LogCaptureFixture) -> None:
    from rag_video.media.loudness import master

    out, loud = master(bursts(4.0), RATE, target_lufs=-3.0, max_true_peak_dbtp=-1.0)
    assert loud.integrated_lufs < -6.0 and loud.true_peak_dbtp <= -1.0
    assert "master:" in caplog.text and "target -3.0 LUFS" in caplog.text


def test_limit_keeps_the_true_peak_under_the_ceiling() -> None:
    from rag_video.media.loudness import limit

    for x, ceiling in (
        (square(1.0), -1.0),
        (16 * bursts(4.0), -1.0),
        (sine(50, 1.2).astype(np.float32), -6.0),
    ):
        out = limit(x, RATE, ceiling)
        assert out.shape == x.shape and out.dtype == np.float32
        assert true_peak_dbtp(x, RATE) > ceiling + 1
        assert ceiling - 0.01 <= true_peak_dbtp(out, RATE) <= ceiling


def test_limit_leaves_audio_far_from_peaks_alone() -> None:
    from rag_video.media.loudness import limit

    quiet = sine(440, 0.5, seconds=1.0)  # -6 dBTP: under the ceiling
    assert np.array_equal(limit(quiet, RATE, -1.0), quiet)
    x = sine(440, 0.1, seconds=2.0)
    x[RATE : RATE + 100] = 0.99  # one loud spike at 1 s
    out = limit(x, RATE, -1.0, lookahead_s=0.005, release_s=0.05)
    assert out.dtype == np.float64
    before = RATE - RATE // 50  # untouched until 20 ms before the spike
    assert np.array_equal(out[:before], x[:before]) and not np.array_equal(out[:RATE], x[:RATE])
    after = RATE + 100 + RATE // 2  # recovered within half a second
    assert np.array_equal(out[after:], x[after:])
    assert true_peak_dbtp(out, RATE) <= -1.0
    gain = out[RATE - 200 : RATE + 1000] / x[RATE - 200 : RATE + 1000]
    assert np.all(gain <= 1.0) and np.all(np.abs(np.diff(gain)) < 0.01)  # a smooth gain


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ceiling_dbtp": 1.0}, r"^ceiling_dbtp must be a finite number <= 0, got 1.0"),
        ({"ceiling_dbtp": math.nan}, "ceiling_dbtp must be"),
        ({"lookahead_s": 0}, r"^lookahead_s must be a finite number of seconds > 0, got 0"),
        ({"release_s": -0.1}, "release_s must be"),
        ({"release_s": math.inf}, "release_s must be"),
    ],
)
def test_limit_bad_arguments(kwargs: dict, match: str) -> None:
    from rag_video.media.loudness import limit

    with pytest.raises(ValueError, match=match):
        limit(sine(440), RATE, **kwargs)


@pytest.mark.parametrize(
    ("samples", "rate", "kwargs", "match"),
    [
        (np.zeros(10, np.float32), RATE, {"target_lufs": 1.0}, r"^target_lufs must be a finite"),
        (np.zeros(10, np.float32), RATE, {"target_lufs": -math.inf}, r"^target_lufs must be"),
        (np.zeros(10, np.float32), RATE, {"max_true_peak_dbtp": 0.5}, "^max_true_peak_dbtp"),
        (np.zeros(10, np.int16), RATE, {}, "samples must be float"),
        (np.zeros((10, 6), np.float32), RATE, {}, "at most 5 channels"),
        (np.zeros((10, 2, 2), np.float32), RATE, {}, "samples must be"),
        (np.array([0.0, np.inf]), RATE, {}, "samples must be finite"),
        (np.zeros(10, np.float32), 48000.0, {}, "rate must be a positive int"),
    ],
)
def test_master_bad_arguments(samples: np.ndarray, rate: int, kwargs: dict, match: str) -> None:
    from rag_video.media.loudness import master

    with pytest.raises(ValueError, match=match):
        master(samples, rate, **kwargs)
