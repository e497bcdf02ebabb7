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
