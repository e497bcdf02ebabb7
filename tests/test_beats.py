"""Beat-synced cuts: beats of a music signal (librosa, refined to the onsets) and the snapping of
the cuts between planned shots onto them."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from itertools import accumulate

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag_video.generate.beatsync import MIN_SHOT_S, Cut, snap_cuts
from rag_video.generate.timing import frame_boundaries
from rag_video.media.beats import beat_times
from rag_video.media.encode import frame_rate

RATE = 48000
TOLERANCE_S = 0.010


def click_track(
    bpm: float,
    seconds: float,
    *,
    offset_s: float = 0.0,
    pad: float = 0.0,
    kind: str = "noise",
    rate: int = RATE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(2, n)`` float32 clicks every beat from ``offset_s`` (and their times): decaying noise
    bursts, 1 kHz pips or kick drums, over a quiet two-note drone of amplitude ``pad``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.zeros(n)
    times = np.arange(offset_s, seconds - 0.05, 60.0 / bpm)
    t = np.arange(int(0.3 * rate)) / rate
    for c in times:
        if kind == "noise":
            burst = 0.5 * rng.standard_normal(t.size) * np.exp(-t / 0.005)
        elif kind == "tone":
            burst = 0.6 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.008)
        else:  # kick: a pitch drop from 150 to 60 Hz
            phase = 60 * t + 90 * 0.02 * (1 - np.exp(-t / 0.02))
            burst = 0.8 * np.sin(2 * np.pi * phase) * np.exp(-t / 0.04)
        i = round(c * rate)
        m = min(burst.size, n - i)
        x[i : i + m] += burst[:m]
    tt = np.arange(n) / rate
    x += pad * (np.sin(2 * np.pi * 110 * tt) + 0.5 * np.sin(2 * np.pi * 165 * tt + 1))
    return np.stack([x, x]).astype(np.float32), times


def assert_on_clicks(beats: np.ndarray, clicks: np.ndarray) -> None:
    """Every beat within 10 ms of a click; at least 90 % of the clicks found, the missing ones
    at the ends only."""
    assert beats.dtype == np.float64 and np.all(np.diff(beats) > 0)
    errors = np.array([np.min(np.abs(clicks - b)) for b in beats])
    assert np.all(errors <= TOLERANCE_S), errors.max()
    found = [bool(np.any(np.abs(beats - c) <= TOLERANCE_S)) for c in clicks]
    assert sum(found) >= 0.9 * len(clicks)
    missed = [i for i, ok in enumerate(found) if not ok]
    assert all(i < 2 or i >= len(clicks) - 2 for i in missed), missed


# ---------------------------------------------------------------- beat_times


@pytest.mark.parametrize(
    ("bpm", "offset_s", "pad", "kind"),
    [
        (120, 0.25, 0.0, "noise"),
        (100, 0.37, 0.05, "noise"),
        (90, 0.5, 0.1, "tone"),
        (128, 0.3, 0.1, "kick"),
    ],
)
def test_beats_of_a_click_track_are_on_the_clicks(
    bpm: float, offset_s: float, pad: float, kind: str
) -> None:
    samples, clicks = click_track(bpm, 20, offset_s=offset_s, pad=pad, kind=kind)
    assert_on_clicks(beat_times(samples, RATE), clicks)


def test_mono_and_other_rates() -> None:
    samples, clicks = click_track(120, 12, offset_s=0.4, pad=0.05, rate=44100)
    stereo = beat_times(samples, 44100)
    assert_on_clicks(stereo, clicks)
    np.testing.assert_array_equal(beat_times(samples[0], 44100), stereo)  # the same downmix
    np.testing.assert_array_equal(beat_times(samples[:1], 44100), stereo)


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros((2, RATE * 5), dtype=np.float32),  # silence
        click_track(120, 5)[0] * 1e-4,  # -80 dBFS: silence too
        click_track(120, 0.9)[0],  # shorter than a second
        np.zeros((2, 0), dtype=np.float32),
        np.zeros(0, dtype=np.float64),
    ],
    ids=["silence", "quiet", "short", "empty", "empty-mono"],
)
def test_no_beats(samples: np.ndarray) -> None:
    beats = beat_times(samples, RATE)
    assert beats.shape == (0,) and beats.dtype == np.float64


@pytest.mark.parametrize(
    ("samples", "rate", "match"),
    [
        (np.zeros((2, 100), np.float32), 0, "rate must be a positive int"),
        (np.zeros((2, 100), np.float32), -48000, "rate must be a positive int"),
        (np.zeros((2, 100), np.float32), 48000.0, "rate must be a positive int"),
        (np.zeros((2, 100), np.float32), True, "rate must be a positive int"),
        (np.zeros((2, 100), np.int16), RATE, "samples must be float.*int16"),
        (np.zeros((2, 100), np.complex64), RATE, "samples must be float"),
        (np.zeros((1, 2, 100), np.float32), RATE, r"samples must be .*shape \(1, 2, 100\)"),
        (np.zeros((100, 2), np.float32), RATE, r"samples must be .*shape \(100, 2\)"),
        (np.zeros((0, 100), np.float32), RATE, r"samples must be .*shape \(0, 100\)"),
        (np.array([0.0, np.nan], np.float32), RATE, "samples must be finite"),
        (np.array([[0.0, np.inf]], np.float32), RATE, "samples must be finite"),
        ([0.0, 0.1], RATE, "samples must be a numpy array, got list"),
    ],
)
def test_beat_times_rejects_bad_arguments(samples: np.ndarray, rate: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        beat_times(samples, rate)


# ---------------------------------------------------------------- snap_cuts


def ends(durations: list[float]) -> list[float]:
    return list(accumulate(durations))


def test_cuts_move_to_the_nearest_beat_within_tolerance() -> None:
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [0, 0, 0], [1.75, 4.25, 9.0])
    assert durations == [1.75, 2.5, 1.75]
    assert cuts == [Cut(0, 2.0, 1.75, True), Cut(1, 4.0, 4.25, True)]
    assert ends(durations) == [1.75, 4.25, 6.0]  # the end of the video stays


def test_nearest_beat_wins_and_ties_go_earlier() -> None:
    assert snap_cuts([2.0, 2.0], [0, 0], [1.625, 2.125])[0] == [2.125, 1.875]
    assert snap_cuts([2.0, 2.0], [0, 0], [2.125, 1.875])[0] == [1.875, 2.125]  # any order


def test_beats_out_of_tolerance_are_ignored() -> None:
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [0, 0, 0], [1.5, 2.5, 3.5, 4.5])
    assert durations == [2.0, 2.0, 2.0]  # ±0.4 s: every beat is 0.5 s away
    assert cuts == [Cut(0, 2.0, 2.0, False), Cut(1, 4.0, 4.0, False)]
    wider, _ = snap_cuts([2.0, 2.0, 2.0], [0, 0, 0], [1.5, 2.5, 3.5, 4.5], tolerance=0.25)
    assert wider == [1.5, 2.0, 2.5]
    assert snap_cuts([2.0, 2.0], [0, 0], [1.99], tolerance=0.0)[0] == [2.0, 2.0]
    assert snap_cuts([2.0, 2.0], [0, 0], [2.0], tolerance=0.0)[1] == [Cut(0, 2.0, 2.0, True)]


def test_tolerance_is_a_fraction_of_each_shot() -> None:
    # cut 0 ends a 1 s shot (±0.2 s), cut 1 a 4 s shot (±0.8 s)
    durations, cuts = snap_cuts([1.0, 4.0, 1.0], [0, 0, 0], [0.75, 4.375])
    assert [c.beat for c in cuts] == [False, True]
    assert durations == [1.0, 3.375, 1.625]


def test_a_narrated_shot_is_never_cut_into_its_speech() -> None:
    # the nearer beat (1.75) would leave shot 0 under its 1.9 s floor: the farther one is taken
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [1.9, 0, 0], [1.75, 2.375])
    assert durations == [2.375, 1.625, 2.0]
    assert cuts[0] == Cut(0, 2.0, 2.375, True)
    # a cut may not eat into the next shot's floor either
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [0, 1.8, 0], [2.25])
    assert durations == [2.0, 2.0, 2.0] and not cuts[0].beat
    assert snap_cuts([2.0, 2.0, 2.0], [0, 1.8, 0], [1.75])[0] == [1.75, 2.25, 2.0]
    # nor into the last shot's: the end of the video does not move
    assert snap_cuts([2.0, 2.0], [0, 1.9], [2.25])[0] == [2.0, 2.0]
    # a shot exactly at its floor keeps it
    assert snap_cuts([2.0, 2.0], [2.0, 0], [1.875, 2.125])[0] == [2.125, 1.875]


def test_no_shot_shorter_than_the_minimum() -> None:
    # 0.15 s shot, ±50 %: a beat 5/64 s in would leave 0.078 s < MIN_SHOT_S
    assert MIN_SHOT_S == 0.1
    assert snap_cuts([0.15, 1.0], [0, 0], [5 / 64], tolerance=0.5)[0] == [0.15, 1.0]
    assert snap_cuts([1.0, 0.15], [0, 0], [1.0625], tolerance=0.5)[0] == [1.0, 0.15]
    assert snap_cuts([0.25, 1.0], [0, 0], [0.125], tolerance=0.5)[0] == [0.125, 1.125]
    # with fps a shot is at least one frame: at 5 fps 0.41 s goes to 0.4 s, 0.1 s into shot 1
    plan = [0.3, 0.2, 1.0]
    assert snap_cuts(plan, [0, 0, 0], [0.41], tolerance=0.5, fps=5)[0] == plan
    _, cuts = snap_cuts(plan, [0, 0, 0], [0.41], tolerance=0.5)
    assert [(c.snapped_s, c.beat) for c in cuts] == [(0.3, False), (0.41, True)]


def test_beats_go_to_the_frame_grid() -> None:
    # 1.71 s is 41.04 frames at 24 fps: the cut lands on frame 41
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [0, 0, 0], [1.71], fps=24)
    assert cuts[0] == Cut(0, 2.0, 41 / 24, True)
    assert durations == [41 / 24, 4.0 - 41 / 24, 2.0]
    assert frame_boundaries(durations, 24) == [41, 96, 144]
    # a beat on a half frame rounds up: 1.6875 s is 40.5 frames
    assert snap_cuts([2.0, 2.0], [0, 0], [1.6875], fps=24)[1][0].snapped_s == 41 / 24
    # 29.97 is 30000/1001 as everywhere: 1.71 s is 51.25 frames
    ntsc = snap_cuts([2.0, 2.0], [0, 0], [1.71], fps=29.97)[1][0].snapped_s
    assert ntsc == float(Fraction(51 * 1001, 30000))
    assert frame_boundaries([ntsc], 29.97) == [51]
    assert snap_cuts([2.0, 2.0], [0, 0], [1.71], fps=Fraction(30000, 1001))[1][0].snapped_s == ntsc


def test_no_beats_leaves_the_plan_unchanged() -> None:
    plan = [1.3, 2.7, 0.9, 3.1]
    for beats in ([], [100.0, 200.0]):
        durations, cuts = snap_cuts(plan, [0.5, 0, 0.9, 0], beats)
        assert durations == plan
        assert [(c.planned_s, c.snapped_s, c.beat) for c in cuts] == [
            (t, t, False) for t in ends(plan)[:-1]
        ]
    assert snap_cuts([], [], [1.0]) == ([], [])
    assert snap_cuts([2.5], [3.0], [1.0]) == ([3.0], [])  # a floor above the duration wins


def test_floors_above_durations_push_the_plan() -> None:
    durations, cuts = snap_cuts([1.0, 2.0], [1.5, 0], [])
    assert durations == [1.5, 2.0] and cuts == [Cut(0, 1.5, 1.5, False)]


def test_snapping_is_idempotent() -> None:
    # cut 0 cannot reach 2.375 until cut 1 has moved to 4.25 (the next shot's 1.75 s floor)
    beats = [2.375, 4.25]
    durations, cuts = snap_cuts([2.0, 2.0, 2.0], [0, 1.75, 0], beats)
    assert durations == [2.375, 1.875, 1.75]
    assert cuts == [Cut(0, 2.0, 2.375, True), Cut(1, 4.0, 4.25, True)]
    again, cuts2 = snap_cuts(durations, [0, 1.75, 0], beats)
    assert again == durations
    assert [c.snapped_s for c in cuts2] == [c.snapped_s for c in cuts]


shot = st.floats(0.05, 8.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    plan=st.lists(st.tuples(shot, st.floats(0.0, 1.0)), min_size=1, max_size=12),
    beats=st.lists(st.floats(0.0, 60.0), max_size=40),
    tolerance=st.sampled_from([0.0, 0.1, 0.2, 0.5]),
    fps=st.sampled_from([None, 24, 25, 29.97]),
)
def test_snapping_properties(
    plan: list[tuple[float, float]], beats: list[float], tolerance: float, fps: float | None
) -> None:
    durations = [d for d, _ in plan]
    floors = [d * share for d, share in plan]  # up to the whole shot
    out, cuts = snap_cuts(durations, floors, beats, tolerance=tolerance, fps=fps)
    assert len(out) == len(durations) and len(cuts) == len(durations) - 1
    assert all(d >= f for d, f in zip(out, floors, strict=True))  # floors never violated
    assert all(d > 0 for d in out)
    cut_times = ends(out)
    assert [c.snapped_s for c in cuts] == cut_times[:-1]  # exactly, as the running sum
    assert cut_times[-1] == pytest.approx(sum(durations), abs=1e-9)  # the end stays
    rate = None if fps is None else frame_rate(fps)
    for c in cuts:
        if not c.beat:
            assert c.snapped_s == c.planned_s
        elif rate is None:  # on a beat (to float noise: no duration may reach it exactly)
            assert min(abs(c.snapped_s - b) for b in beats) <= 1e-9
        else:  # on a frame boundary
            assert float(c.snapped_s * rate) == pytest.approx(round(c.snapped_s * rate), abs=1e-6)
    assert snap_cuts(out, floors, beats, tolerance=tolerance, fps=fps)[0] == out


def test_cuts_land_on_the_beats_of_a_click_track() -> None:
    samples, clicks = click_track(120, 20, offset_s=0.25, pad=0.05)
    beats = beat_times(samples, RATE)
    plan = [1.9, 2.3, 1.6, 2.2, 2.7, 1.8, 2.4, 2.1, 1.9]
    floors = [1.5, 0.0, 1.4, 0.0, 2.6, 0.0, 0.0, 2.0, 0.0]
    durations, cuts = snap_cuts(plan, floors, beats, fps=24)
    assert all(d >= f for d, f in zip(durations, floors, strict=True))
    assert all(c.beat for c in cuts)  # a beat every 0.5 s: always one within ±20 %
    for c in cuts:
        assert np.min(np.abs(clicks - c.snapped_s)) <= 1 / 24
        assert c.snapped_s * 24 == pytest.approx(round(c.snapped_s * 24), abs=1e-9)
    assert ends(durations)[-1] == pytest.approx(sum(plan), abs=1e-9)


def test_cut_is_frozen() -> None:
    cut = Cut(0, 1.0, 1.0, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cut.snapped_s = 2.0  # type: ignore[misc]


NAN = math.nan


@pytest.mark.parametrize(
    ("durations", "floors", "beats", "kwargs", "match"),
    [
        ([2.0, -1.0], [0, 0], [], {}, r"durations\[1\] must be a finite number > 0.*-1.0"),
        ([0.0], [0], [], {}, r"durations\[0\] must be a finite number > 0"),
        ([NAN], [0], [], {}, r"durations\[0\] .*nan"),
        ([math.inf], [0], [], {}, r"durations\[0\] .*inf"),
        ([True], [0], [], {}, r"durations\[0\] .*True"),
        (["2"], [0], [], {}, r"durations\[0\] .*'2'"),
        (None, [0], [], {}, "durations must be a sequence of seconds, got None"),
        ([2.0, 2.0], [0], [], {}, r"floors must have one value per shot \(2\), got 1"),
        ([2.0], [-0.5], [], {}, r"floors\[0\] must be a finite number >= 0.*-0.5"),
        ([2.0], [NAN], [], {}, r"floors\[0\] .*nan"),
        ([2.0], [0], [1.0, NAN], {}, r"beats\[1\] .*nan"),
        ([2.0], [0], [-1.0], {}, r"beats\[0\] must be a finite number >= 0.*-1.0"),
        ([2.0], [0], [], {"tolerance": -0.1}, r"tolerance must be in \[0, 0.5\], got -0.1"),
        ([2.0], [0], [], {"tolerance": 0.6}, r"tolerance .*0.6"),
        ([2.0], [0], [], {"tolerance": NAN}, r"tolerance .*nan"),
        ([2.0], [0], [], {"tolerance": True}, r"tolerance .*True"),
        ([2.0], [0], [], {"fps": 0}, "fps must be in"),
        ([2.0], [0], [], {"fps": -24}, "fps must be in"),
        ([2.0], [0], [], {"fps": NAN}, "fps must be a number"),
        ([2.0], [0], [], {"fps": True}, "fps must be a number"),
    ],
)
def test_snap_cuts_rejects_bad_input(
    durations: list[float], floors: list[float], beats: list[float], kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        snap_cuts(durations, floors, beats, **kwargs)
