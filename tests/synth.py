"""Synthetic test footage with known ground truth, shared by the project's tests.

A *spec* is a sequence of :class:`Shot` and :class:`Transition` items, e.g.::

    spec = [Shot(40), Transition("cut"), Shot(30, motion="pan"), fade(12), Shot(30), dissolve(10),
            Shot(50, flashes=(20,))]
    frames, truth = build_frames(spec)

Two shots next to each other are joined by a hard cut. Every shot is a distinct *scene*: a
periodic 1/f colour-noise field (clouds/terrain-like, so it has texture at every scale) with a
scene-specific hue, some drawn shapes (edges) and, for ``drift`` shots, one object moving across
the frame. The camera looks at the scene through a window that moves:

- ``drift``: slow, bounded camera wobble (< 1 px/frame) plus the moving object — consecutive
  frames are never identical, as in real footage;
- ``pan``: fast horizontal pan (default 8 % of the frame width per frame) across a wide texture —
  must NOT be detected as a cut;
- ``static``: locked-off camera, only sensor noise changes;
- ``whip``: locked-off, then abruptly a fast pan for the middle third of the shot, then still
  again (the jolt at its start is a sharp change — must NOT be a cut either);
- ``shake``: locked-off camera knocked sideways by ``pan_speed`` of the width in one frame at a
  third of the shot, and back at two thirds (a one-frame jump: must NOT be a cut);
- ``zoom``: a never-ending zoom into a finely detailed, many-coloured scene (like FFmpeg's
  ``mandelbrot`` source), by ``zoom_speed`` (default 30 %) per frame: every pixel changes a lot
  every frame, so a cut into it barely stands out from the zoom's own change (must be a cut), and
  nothing inside it may be one;
- ``card``: a still test card — flat grey with a low-contrast grey step wedge along the bottom, a
  dark disc and a light bar placed per scene — with only sensor noise (a cut from it into a
  ``zoom`` is the hard case above).

Every frame also gets a little sensor noise. ``Shot.flashes`` inserts 1–2 near-white frames
inside the shot, after which the same scene continues (a camera flash: NOT a boundary).

Transitions add frames between the two shots (the outgoing scene keeps moving during them,
the incoming one is already moving):

- ``cut``: none; the boundary is the first frame of the new shot;
- ``fade`` (N frames): fade out to black over ``N // 2`` frames (its last frame is black), then
  fade in from black over the rest (its first frame is black too);
- ``dissolve`` (N frames): linear cross-blend, weight of the new shot ``(i + 1) / (N + 1)``.

Ground-truth convention for gradual transitions: the boundary is the **middle** of the
transition, ``first_transition_frame + N // 2`` (for a fade, the first frame of the fade-in,
i.e. the second of its two black frames; for a dissolve, the first frame where the new shot
dominates). Tests accept ± a tolerance.

Also: :func:`random_spec` (many shots at random), :func:`make_video` (build and write),
:func:`write_video` (PyAV encode, optional AAC track, metadata, display rotation),
:func:`write_vfr_video` (frames at given times: variable frame rate, optional B-frames),
:func:`decode_bgr` (PyAV decode to small BGR frames, for feeding detectors directly), and writers
of unreadable or odd files (:func:`write_bad_files`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

DEFAULT_SIZE: tuple[int, int] = (160, 90)
"""Default frame size (width, height): small so tests are fast."""
DEFAULT_FPS: int = 25
MOTIONS = ("drift", "pan", "static", "whip", "shake", "zoom", "card")
TRANSITIONS = ("cut", "fade", "dissolve")

_GOLDEN = 0.6180339887498949
_DRIFT_AMPLITUDE = 0.12  # of the frame height: how far the drifting camera wanders
_MARGIN = 0.35  # world margin around the view, fraction of the frame size
_CARD_GREY = 0.37  # grey level of a ``card`` shot: the mean colour of a ``zoom`` shot
_ZOOM_OCTAVES = 4  # copies of the world a ``zoom`` shot blends, each magnified 2× the previous


@dataclass(frozen=True)
class Shot:
    """One continuous shot of one scene.

    Attributes:
        frames: number of frames of the shot itself (transitions add their own frames).
        motion: one of :data:`MOTIONS` (see the module docstring).
        flashes: offsets (within the shot) where a flash of ``flash_frames`` near-white frames
            replaces the picture; the scene continues unchanged after it.
        flash_frames: length of each flash (1 or 2 is typical).
        pan_speed: pan speed in fractions of the frame width per frame (``pan``, ``whip``,
            ``shake``).
        zoom_speed: relative magnification per frame (``zoom`` only): 0.3 zooms 2× in 2.6 frames.
        scene: scene identity; ``None`` gives the shot's position in the spec, so every shot is a
            new scene. Two shots with the same ``scene`` show the same place.
    """

    frames: int
    motion: str = "drift"
    flashes: tuple[int, ...] = ()
    flash_frames: int = 2
    pan_speed: float = 0.08
    zoom_speed: float = 0.3
    scene: int | None = None

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"Shot.frames must be >= 1, got {self.frames}")
        if self.motion not in MOTIONS:
            raise ValueError(f"Shot.motion must be one of {MOTIONS}, got {self.motion!r}")
        if not 0 < self.zoom_speed < 1:
            raise ValueError(f"Shot.zoom_speed must be in (0, 1), got {self.zoom_speed}")
        for offset in self.flashes:
            if not 0 <= offset <= self.frames - self.flash_frames:
                raise ValueError(
                    f"Shot.flashes offset {offset} does not fit in {self.frames} frames"
                )


@dataclass(frozen=True)
class Transition:
    """A join between two shots: ``cut`` (0 frames), ``fade`` or ``dissolve`` (``frames`` long)."""

    kind: str
    frames: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TRANSITIONS:
            raise ValueError(f"Transition.kind must be one of {TRANSITIONS}, got {self.kind!r}")
        if self.kind == "cut" and self.frames != 0:
            raise ValueError(f"Transition.frames must be 0 for a cut, got {self.frames}")
        if self.kind != "cut" and self.frames < 2:
            raise ValueError(f"Transition.frames must be >= 2 for a {self.kind}, got {self.frames}")


def cut() -> Transition:
    """A hard cut."""
    return Transition("cut")


def fade(frames: int = 12) -> Transition:
    """A fade out to black and in from black, ``frames`` long in total."""
    return Transition("fade", frames)


def dissolve(frames: int = 12) -> Transition:
    """A linear cross-dissolve ``frames`` long."""
    return Transition("dissolve", frames)


@dataclass(frozen=True)
class TruthBoundary:
    """An expected boundary: ``frame`` is the first frame of the new shot (middle of a
    transition)."""

    frame: int
    kind: str


@dataclass(frozen=True)
class Truth:
    """Ground truth of a built sequence. Iterating it yields the expected :class:`TruthBoundary` s.

    Attributes:
        boundaries: expected boundaries, in order.
        n_frames: total number of frames.
        transitions: ``(first_frame, end_frame_exclusive, kind)`` of every fade and dissolve.
        flashes: indices of every flash frame.
        pans: ``(first_frame, end_frame_exclusive)`` of every pan shot and of the moving part
            of every whip shot.
        jolts: frames where a ``shake`` shot's camera jumps.
        zooms: ``(first_frame, end_frame_exclusive)`` of every ``zoom`` shot.
        shots: ``(first_frame, end_frame_exclusive)`` of every shot's own frames (no transitions).
    """

    boundaries: tuple[TruthBoundary, ...]
    n_frames: int
    transitions: tuple[tuple[int, int, str], ...] = ()
    flashes: tuple[int, ...] = ()
    pans: tuple[tuple[int, int], ...] = ()
    jolts: tuple[int, ...] = ()
    zooms: tuple[tuple[int, int], ...] = ()
    shots: tuple[tuple[int, int], ...] = ()

    def __iter__(self) -> Iterator[TruthBoundary]:
        return iter(self.boundaries)

    def __len__(self) -> int:
        return len(self.boundaries)

    def __getitem__(self, i: int) -> TruthBoundary:
        return self.boundaries[i]

    def frames_of(self, kind: str) -> list[int]:
        """Frames of the expected boundaries of one kind."""
        return [b.frame for b in self.boundaries if b.kind == kind]


# --------------------------------------------------------------------------- scene rendering


def _periodic_noise(
    rng: np.random.Generator, shape: tuple[int, int], beta: float, cutoff: float
) -> np.ndarray:
    """Periodic (wraps in x and y) zero-mean unit-std noise with amplitude spectrum ~ 1/f**beta."""
    h, w = shape
    white = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2) * h  # cycles per world height, the same scale on both axes
    amp = 1.0 / np.maximum(f, 1.0) ** beta
    amp = amp * np.exp(-((f / cutoff) ** 2))
    amp[0, 0] = 0.0
    field_ = np.fft.irfft2(np.fft.rfft2(white) * amp, s=(h, w))
    return (field_ / (field_.std() + 1e-9)).astype(np.float32)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (h in turns, s and v in 0..1) to float32 RGB in 0..1."""
    hsv = np.stack([(h % 1.0) * 360.0, np.clip(s, 0, 1), np.clip(v, 0, 1)], axis=-1).astype(
        np.float32
    )
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _color(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    rgb = _hsv_to_rgb(np.array([[hue]]), np.array([[sat]]), np.array([[val]]))[0, 0]
    return tuple(float(c) for c in rgb)


class Scene:
    """A deterministic scene seen through a moving camera: ``frame(t)`` is float32 RGB in 0..1.

    ``t`` may be negative or beyond the shot (transitions show a scene before/after its shot).
    """

    def __init__(
        self,
        index: int,
        size: tuple[int, int],
        motion: str,
        pan_speed: float,
        seed: int,
        zoom_speed: float = 0.3,
    ) -> None:
        self.size = size
        self.zoom_speed = zoom_speed
        self.motion = motion
        self.seed = seed
        self.rng = np.random.default_rng([seed, index])
        w, h = size
        self.hue = (index * _GOLDEN + self.rng.uniform(0, 0.05)) % 1.0
        world_w = int(w * (6 if motion in ("pan", "whip", "shake") else 1 + 2 * _MARGIN))
        world_h = int(h * (1 + 2 * _MARGIN))
        self.world = self._make_world((world_h, world_w))
        self.pan_px = pan_speed * w
        self.wobble = (
            self.rng.uniform(0.5, 1.0) * _DRIFT_AMPLITUDE * h,
            self.rng.uniform(0.3, 0.7) * _DRIFT_AMPLITUDE * h,
            self.rng.uniform(160, 320),
            self.rng.uniform(0, 2 * math.pi),
        )
        wide = motion in ("pan", "whip", "shake")
        self.origin = (self.rng.uniform(0, world_w - w) if wide else _MARGIN * w, _MARGIN * h)
        self.whip = (0, 0)  # frames [start, end) of a whip pan or of a shake, set by the builder
        self.obj = self._make_object()

    def _make_world(self, shape: tuple[int, int]) -> np.ndarray:
        if self.motion == "zoom":
            return self._make_detailed_world(shape)
        if self.motion == "card":
            return self._make_card(shape)
        rng, hue = self.rng, self.hue
        low = _periodic_noise(rng, shape, beta=1.6, cutoff=shape[0] / 6)
        mid = _periodic_noise(rng, shape, beta=1.0, cutoff=shape[0] / 3)
        fine = _periodic_noise(rng, shape, beta=0.5, cutoff=shape[0] / 2)
        tone = _periodic_noise(rng, shape, beta=1.8, cutoff=shape[0] / 8)
        sat0, val0 = rng.uniform(0.45, 0.75), rng.uniform(0.45, 0.65)
        rgb = _hsv_to_rgb(
            hue + 0.06 * low, sat0 + 0.12 * tone, val0 + 0.14 * mid + 0.05 * fine + 0.06 * low
        )
        self._draw_shapes(rgb, int(rng.integers(5, 10) * max(1.0, shape[1] / (2.5 * shape[0]))))
        return cv2.GaussianBlur(rgb, (0, 0), 0.7)

    def _make_detailed_world(self, shape: tuple[int, int]) -> np.ndarray:
        """Fine detail (amplitude ~ 1/sqrt(f)) in hue, over more than a full turn, and in value,
        down to the pixel; its mean colour is the grey of :meth:`_make_card`."""
        hue = _periodic_noise(self.rng, shape, beta=0.5, cutoff=shape[0])
        value = _periodic_noise(self.rng, shape, beta=0.5, cutoff=shape[0])
        return _hsv_to_rgb(
            self.hue + 0.6 * hue, np.full(shape, 0.65, np.float32), 0.55 + 0.5 * value
        )

    def _make_card(self, shape: tuple[int, int]) -> np.ndarray:
        """A test card: flat grey, a step wedge of eight greys along the bottom quarter, and a dark
        disc and a light bar whose places tell one card from another."""
        h, w = shape
        card = np.full((h, w, 3), _CARD_GREY, np.float32)
        for i in range(8):
            card[h * 3 // 4 :, i * w // 8 : (i + 1) * w // 8] = _CARD_GREY + (i - 3.5) * 0.025
        centre = (int(self.rng.uniform(0.3, 0.7) * w), int(self.rng.uniform(0.35, 0.5) * h))
        cv2.circle(card, centre, h // 4, (_CARD_GREY - 0.25,) * 3, -1, cv2.LINE_AA)
        x, y = int(self.rng.uniform(0.25, 0.65) * w), int(self.rng.uniform(0.3, 0.45) * h)
        card[y : y + h // 5, x : x + w // 10] = _CARD_GREY + 0.25
        return card

    def _draw_shapes(self, rgb: np.ndarray, count: int) -> None:
        """Draw ``count`` shapes, each also at its wrapped positions so the world stays periodic."""
        rng, hue = self.rng, self.hue
        wh, ww = rgb.shape[:2]
        for _ in range(count):
            color = _color(
                hue + rng.choice([-0.12, 0.12, 0.5]), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.95)
            )
            cx, cy = rng.uniform(0, ww), rng.uniform(0, wh)
            ax, ay = rng.uniform(0.04, 0.12) * ww, rng.uniform(0.08, 0.3) * wh
            angle, rect = rng.uniform(0, 180), rng.random() < 0.4
            for dx in (-ww, 0, ww):
                for dy in (-wh, 0, wh):
                    center = (int(cx + dx), int(cy + dy))
                    if rect:
                        p1 = (int(cx + dx - ax / 2), int(cy + dy - ay / 2))
                        p2 = (int(cx + dx + ax / 2), int(cy + dy + ay / 2))
                        cv2.rectangle(rgb, p1, p2, color, -1)
                    else:
                        cv2.ellipse(
                            rgb, center, (int(ax / 2), int(ay / 2)), angle, 0, 360, color, -1
                        )

    def _make_object(self) -> tuple[tuple[float, float, float], float, float, float, float]:
        rng, (w, h) = self.rng, self.size
        color = _color(self.hue + 0.5, 0.8, rng.uniform(0.3, 0.9))
        return color, rng.uniform(0, w), rng.uniform(0.3, 0.7) * h, rng.uniform(0.4, 1.2), 0.09 * h

    def camera(self, t: float) -> tuple[float, float]:
        """Top-left corner of the view in world pixels at time ``t`` (frames)."""
        ox, oy = self.origin
        if self.motion in ("static", "zoom", "card"):
            return ox, oy
        if self.motion == "pan":
            return ox + self.pan_px * t, oy
        if self.motion == "whip":
            start, end = self.whip
            return ox + self.pan_px * (min(max(t, start), end) - start), oy
        if self.motion == "shake":
            start, end = self.whip
            return ox + (self.pan_px if start <= t < end else 0.0), oy
        ax, ay, period, phase = self.wobble
        a = 2 * math.pi * t / period + phase
        return ox + ax * math.sin(a), oy + ay * math.sin(1.3 * a + 1.0)

    def _zoomed(self, t: float) -> np.ndarray:
        """The never-ending zoom of a ``zoom`` shot at time ``t`` (frames).

        :data:`_ZOOM_OCTAVES` copies of the world, each magnified twice as much as the previous
        one, all growing by ``zoom_speed`` per frame about the centre of the view; each copy fades
        in while it is fine and out once it is coarse, so detail keeps coming at every scale
        (like FFmpeg's ``mandelbrot`` source) and the picture never blurs.
        """
        w, h = self.size
        x, y = self.camera(t)
        cx, cy = x + w / 2, y + h / 2
        phase = (t * math.log2(1.0 + self.zoom_speed)) % 1.0
        out, total = np.zeros((h, w, 3), np.float32), 0.0
        for k in range(_ZOOM_OCTAVES):
            level = k + phase
            weight = math.sin(math.pi * level / _ZOOM_OCTAVES) ** 2
            s = 2.0 ** (level - 1)
            m = np.float32([[s, 0, w / 2 - s * cx], [0, s, h / 2 - s * cy]])
            out += weight * cv2.warpAffine(
                self.world, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
            )
            total += weight
        return out / total

    def frame(self, t: int) -> np.ndarray:
        """Float32 RGB frame (h, w, 3) in 0..1 at time ``t``."""
        w, h = self.size
        if self.motion == "zoom":
            img = self._zoomed(t)
        else:
            x, y = self.camera(t)
            m = np.float32([[1, 0, -x], [0, 1, -y]])
            img = cv2.warpAffine(
                self.world, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
            )
        if self.motion == "drift":
            color, x0, y0, speed, radius = self.obj
            cx = (x0 + speed * t) % (w + 4 * radius) - 2 * radius
            cv2.circle(
                img, (int(cx * 16), int(y0 * 16)), int(radius * 16), color, -1, cv2.LINE_AA, shift=4
            )
        noise = np.random.default_rng([self.seed, 7919, t + 1_000_000]).normal(
            0.0, 1.2 / 255, img.shape
        )
        return img + noise.astype(np.float32)


def _flash(img: np.ndarray) -> np.ndarray:
    """A near-white flash frame keeping a faint trace of the picture."""
    return 0.15 * img + 0.85 * (245 / 255)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- building sequences


@dataclass
class _Builder:
    size: tuple[int, int]
    seed: int
    frames: list[np.ndarray] = field(default_factory=list)
    boundaries: list[TruthBoundary] = field(default_factory=list)
    transitions: list[tuple[int, int, str]] = field(default_factory=list)
    flashes: list[int] = field(default_factory=list)
    pans: list[tuple[int, int]] = field(default_factory=list)
    jolts: list[int] = field(default_factory=list)
    zooms: list[tuple[int, int]] = field(default_factory=list)
    shots: list[tuple[int, int]] = field(default_factory=list)

    def scene(self, shot: Shot, position: int) -> Scene:
        index = position if shot.scene is None else shot.scene
        scene = Scene(index, self.size, shot.motion, shot.pan_speed, self.seed, shot.zoom_speed)
        scene.whip = (shot.frames // 3, shot.frames - shot.frames // 3)
        return scene

    def add_shot(self, shot: Shot, scene: Scene) -> None:
        start = len(self.frames)
        flash_frames = {o + k for o in shot.flashes for k in range(shot.flash_frames)}
        for t in range(shot.frames):
            img = scene.frame(t)
            if t in flash_frames:
                img = _flash(img)
                self.flashes.append(start + t)
            self.frames.append(_to_uint8(img))
        self.shots.append((start, len(self.frames)))
        if shot.motion == "pan":
            self.pans.append((start, len(self.frames)))
        elif shot.motion == "whip":
            self.pans.append((start + shot.frames // 3, start + shot.frames - shot.frames // 3))
        elif shot.motion == "shake":
            self.jolts.extend([start + shot.frames // 3, start + shot.frames - shot.frames // 3])
        elif shot.motion == "zoom":
            self.zooms.append((start, len(self.frames)))

    def add_transition(self, tr: Transition, a: Scene, a_len: int, b: Scene) -> None:
        start, n = len(self.frames), tr.frames
        for i in range(n):
            fa, fb = a.frame(a_len + i), b.frame(i - n)
            if tr.kind == "dissolve":
                alpha = (i + 1) / (n + 1)
                img = (1 - alpha) * fa + alpha * fb
            elif i < n // 2:
                img = fa * (1 - (i + 1) / (n // 2))
            else:
                img = fb * ((i - n // 2) / (n - n // 2))
            self.frames.append(_to_uint8(img))
        self.boundaries.append(TruthBoundary(start + n // 2, tr.kind))
        if n:
            self.transitions.append((start, start + n, tr.kind))

    def truth(self) -> Truth:
        return Truth(
            boundaries=tuple(self.boundaries),
            n_frames=len(self.frames),
            transitions=tuple(self.transitions),
            flashes=tuple(self.flashes),
            pans=tuple(self.pans),
            jolts=tuple(self.jolts),
            zooms=tuple(self.zooms),
            shots=tuple(self.shots),
        )


def _normalise_spec(spec: Sequence[Shot | Transition]) -> list[tuple[Transition | None, Shot]]:
    """Pair every shot with the transition before it (``None`` for the first); adjacent shots
    cut."""
    pairs: list[tuple[Transition | None, Shot]] = []
    pending: Transition | None = None
    for item in spec:
        if isinstance(item, Transition):
            if not pairs or pending is not None:
                raise ValueError(f"spec: a transition must sit between two shots, got {item!r}")
            pending = item
        elif isinstance(item, Shot):
            pairs.append((None if not pairs else (pending or cut()), item))
            pending = None
        else:
            raise ValueError(f"spec: items must be Shot or Transition, got {item!r}")
    if pending is not None or not pairs:
        raise ValueError("spec: must start and end with a Shot")
    return pairs


def build_frames(
    spec: Sequence[Shot | Transition], *, size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0
) -> tuple[list[np.ndarray], Truth]:
    """Render ``spec`` into RGB uint8 frames (h×w×3) and its ground truth.

    Deterministic for a given ``spec``, ``size`` (width, height) and ``seed``.
    """
    builder = _Builder(size=size, seed=seed)
    prev: tuple[Scene, Shot] | None = None
    for position, (tr, shot) in enumerate(_normalise_spec(spec)):
        scene = builder.scene(shot, position)
        if prev is not None and tr is not None:
            builder.add_transition(tr, prev[0], prev[1].frames, scene)
        builder.add_shot(shot, scene)
        prev = (scene, shot)
    return builder.frames, builder.truth()


def random_spec(
    n_shots: int,
    *,
    seed: int = 0,
    min_frames: int = 20,
    max_frames: int = 60,
    transitions: Sequence[str] = ("cut",),
    transition_frames: tuple[int, int] = (8, 20),
    motions: Sequence[str] = ("drift",),
    flash_prob: float = 0.0,
    zoom_speeds: tuple[float, float] = (0.3, 0.3),
    no_repeat: Sequence[str] = ("card",),
) -> list[Shot | Transition]:
    """A random spec of ``n_shots`` shots joined by transitions drawn from ``transitions``.

    A ``zoom`` shot's speed is drawn from ``zoom_speeds`` (low, high). A motion in ``no_repeat``
    never follows itself (two test cards in a row differ too little to be told apart); the motion
    drawn is then redrawn.
    """
    rng = np.random.default_rng(seed)
    previous = None
    spec: list[Shot | Transition] = []
    for i in range(n_shots):
        if i:
            kind = str(rng.choice(list(transitions)))
            frames = (
                0
                if kind == "cut"
                else int(rng.integers(transition_frames[0], transition_frames[1] + 1))
            )
            spec.append(Transition(kind, frames))
        length = int(rng.integers(min_frames, max_frames + 1))
        flashes = (
            (int(rng.integers(5, length - 7)),)
            if length >= 14 and rng.random() < flash_prob
            else ()
        )
        motion, flash_frames = str(rng.choice(list(motions))), int(rng.integers(1, 3))
        while motion == previous and motion in no_repeat and set(motions) - {motion}:
            motion = str(rng.choice(list(motions)))
        previous = motion
        zoom = {"zoom_speed": float(rng.uniform(*zoom_speeds))} if motion == "zoom" else {}
        spec.append(Shot(length, motion=motion, flashes=flashes, flash_frames=flash_frames, **zoom))
    return spec


# --------------------------------------------------------------------------- encoding / decoding


def _resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _add_audio_stream(
    container: av.container.OutputContainer, codec: str
) -> av.audio.stream.AudioStream:
    """Add a mono 48 kHz audio stream (before anything is muxed)."""
    return container.add_stream(codec, rate=48000, layout="mono")


def _write_tone(
    container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    """Encode a 440 Hz tone lasting ``seconds`` into ``stream``."""
    rate = stream.rate
    fmt = "fltp" if stream.codec_context.name == "aac" else "s16"
    total, chunk = int(round(seconds * rate)), 1024
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        wave = 0.2 * np.sin(2 * np.pi * 440.0 * t)
        data = wave[None, :] if fmt == "fltp" else (wave * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _video_options(codec: str, crf: int, gop: int) -> dict[str, str]:
    if codec in ("libx264", "libx265"):
        return {"crf": str(crf), "preset": "veryfast", "g": str(gop)}
    return {"g": str(gop), "qscale": "3"}


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction = DEFAULT_FPS,
    size: tuple[int, int] | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    crf: int = 18,
    metadata: dict[str, str] | None = None,
    *,
    gop: int | None = None,
    audio: bool = False,
    display_rotation: int = 0,
) -> Path:
    """Encode RGB uint8 frames into a video file with PyAV and return its path.

    Args:
        frames: h×w×3 uint8 RGB arrays (resized to ``size`` when it differs).
        fps: frame rate (an int, float such as 29.97, or Fraction).
        size: output (width, height); default: the first frame's size.
        codec / pix_fmt / crf: encoder, pixel format (``yuv420p10le`` gives 10-bit), quality.
        metadata: container tags (for mp4/mov written with ``use_metadata_tags`` so custom keys
            survive).
        gop: keyframe interval in frames (default: 2 seconds).
        audio: also write a 440 Hz AAC tone as long as the video.
        display_rotation: display-matrix rotation in FFmpeg's counter-clockwise degrees
            (``VideoStream.set_display_rotation``); 0 writes none.
    """
    path = Path(path)
    rate = _rate(fps)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("write_video: frames is empty (use write_zero_frame_video for that)")
    width, height = size or (first.shape[1], first.shape[0])
    options = (
        {"movflags": "use_metadata_tags"}
        if metadata and path.suffix.lower() in (".mp4", ".mov", ".m4v")
        else {}
    )
    n = 0
    with av.open(str(path), "w", options=options) as container:
        if metadata:
            container.metadata.update(metadata)
        stream = container.add_stream(
            codec, rate=rate, options=_video_options(codec, crf, gop or int(round(2 * rate)))
        )
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if display_rotation:
            stream.set_display_rotation(display_rotation)
        audio_stream = _add_audio_stream(container, "aac") if audio else None
        for rgb in _chain(first, it):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(_resize_rgb(rgb, (width, height))), format="rgb24"
            )
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = n, 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        for packet in stream.encode(None):
            container.mux(packet)
        if audio_stream is not None:
            _write_tone(container, audio_stream, float(n / rate))
    return path


def write_vfr_video(
    path: str | os.PathLike,
    frames: Sequence[np.ndarray],
    times_s: Sequence[float],
    *,
    codec: str = "libx264",
    bframes: int = 0,
    time_base: Fraction = Fraction(1, 90000),
    crf: int = 18,
    rate: int = 30,
) -> Path:
    """Encode RGB uint8 frames shown at ``times_s`` (seconds, increasing): a variable frame rate.

    Every packet's duration is the step to the next frame (the last one repeats the step before
    it), so the container's duration ends where the last frame does. ``bframes`` B-frames
    (libx264) reorder the packets, so decode order differs from presentation order. ``rate`` is
    only the encoder's nominal rate.
    """
    path = Path(path)
    if len(frames) != len(times_s) or not frames:
        raise ValueError(
            f"write_vfr_video: need one time per frame, got {len(frames)} frames, "
            f"{len(times_s)} times"
        )
    pts = [round(t / time_base) for t in times_s]
    if any(b <= a for a, b in itertools.pairwise(pts)):
        raise ValueError("write_vfr_video: times_s must increase (at the time base's resolution)")
    steps = [b - a for a, b in itertools.pairwise(pts)] or [round(1 / (rate * time_base))]
    duration = dict(zip(pts, steps + [steps[-1]], strict=False))
    h, w = frames[0].shape[:2]
    options = (
        {"crf": str(crf), "preset": "veryfast", "bf": str(bframes)} if codec == "libx264" else {}
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base

        def mux(packets: Iterable[av.Packet]) -> None:
            for packet in packets:
                packet.duration = duration[packet.pts]
                container.mux(packet)

        for rgb, p in zip(frames, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = p, time_base
            mux(stream.encode(frame))
        mux(stream.encode(None))
    return path


def _rate(fps: float | Fraction) -> Fraction:
    """Exact rate: 29.97 → 30000/1001 (NTSC family), 25 → 25."""
    if isinstance(fps, float):
        ntsc = round(fps * 1.001)
        if abs(fps - ntsc / 1.001) < 0.005 and abs(fps - round(fps)) > 0.005:
            return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def decode_bgr(path: str | os.PathLike, size: tuple[int, int]) -> list[np.ndarray]:
    """Decode every video frame of ``path`` with PyAV, scaled to ``size`` (w, h), as BGR uint8."""
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            small = frame.reformat(
                width=size[0], height=size[1], format="bgr24", interpolation="AREA"
            )
            out.append(small.to_ndarray())
    return out


def make_video(
    path: str | os.PathLike,
    spec: Sequence[Shot | Transition],
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    **kwargs,
) -> Truth:
    """Build ``spec`` and write it to ``path`` (``write_video`` keyword arguments pass through)."""
    frames, truth = build_frames(spec, size=size, seed=seed)
    write_video(path, frames, **kwargs)
    return truth


# --------------------------------------------------------------------------- bad and odd files


def write_empty(path: str | os.PathLike) -> Path:
    """A zero-byte file."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_truncated(path: str | os.PathLike, keep: float = 0.4) -> Path:
    """A real mp4 cut to the first ``keep`` fraction of its bytes (its index atom is lost)."""
    path = Path(path)
    frames, _ = build_frames([Shot(50)], seed=11)
    write_video(path, frames)
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def write_random_bytes(path: str | os.PathLike, n: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a video extension."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def write_text_as_video(path: str | os.PathLike) -> Path:
    """A plain text file under a video extension."""
    path = Path(path)
    path.write_text("This is not a video.\nJust some notes someone saved with the wrong name.\n")
    return path


def write_audio_only(path: str | os.PathLike, seconds: float = 1.0) -> Path:
    """An audio-only file (AAC in .m4a/.mp4/.mkv; PCM for .wav/.mka if the suffix asks for it)."""
    path = Path(path)
    codec = "pcm_s16le" if path.suffix.lower() in (".wav", ".mka") else "aac"
    with av.open(str(path), "w") as container:
        _write_tone(container, _add_audio_stream(container, codec), seconds)
    return path


def write_zero_frame_video(path: str | os.PathLike, size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """A container whose video stream has no packets (use ``.mkv``).

    FFmpeg's demuxers drop or refuse an empty file, so a short audio track keeps the container
    readable: opening works, ``streams.video[0]`` exists and decoding it yields zero frames.
    """
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=DEFAULT_FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        _write_tone(container, _add_audio_stream(container, "aac"), 0.5)
    return path


def write_bad_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Write one of each unreadable/odd file into ``folder``; returns ``{name: path}``.

    Names: ``empty`` (empty.mp4), ``truncated`` (truncated.mp4), ``random`` (random.mp4),
    ``text`` (notes.mov), ``audio_only`` (audio_only.m4a), ``zero_frames`` (zero_frames.mkv).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "empty": write_empty(folder / "empty.mp4"),
        "truncated": write_truncated(folder / "truncated.mp4"),
        "random": write_random_bytes(folder / "random.mp4"),
        "text": write_text_as_video(folder / "notes.mov"),
        "audio_only": write_audio_only(folder / "audio_only.m4a"),
        "zero_frames": write_zero_frame_video(folder / "zero_frames.mkv"),
    }
