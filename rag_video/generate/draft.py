# Over 450 lines, kept whole for now (issue 11): the draft generator and its caption overlay; next
# cut: the overlay to its own module.
"""The draft renderer: restyle and fill without a model, in seconds.

- **restyle** is a colour/look transfer (Reinhard et al. 2001: match the per-channel mean and
  standard deviation in LAB) of the whole clip toward a target: the plan's reference image when
  one is given, else a named look from :data:`LOOKS` picked by keywords of the shot's style (then
  its prompt), else a neutral grade. Statistics are taken over the whole clip, so the grade does
  not flicker; the transfer is a per-channel LUT in 8-bit LAB. ``strength`` blends between the
  original (0) and the transferred clip (1).
- **fill** is the best partial match's keyframe (``FillContext.reference``, else ``first``, else
  ``last``) with a slow, smooth, sub-pixel pan and zoom (Ken Burns), or a title card of the prompt
  when the context is empty.

Drafted frames carry a small corner label (``DRAFT restyle`` / ``DRAFT fill``) unless
``label=False``. Also home of the text overlays (labels, captions, title cards) that assembly
uses to burn in subtitles.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_video.generate.base import FillContext, GenerationError, Generator, GenResult
from rag_video.generate.trim import best_window, frame_sharpness
from rag_video.media.clip import conform_frame

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------ looks


@dataclass(frozen=True)
class Look:
    """A named grade as LAB target statistics relative to the clip's own.

    ``l_shift`` is added to the mean lightness (L*, 0..100); ``contrast`` multiplies its standard
    deviation; ``a``/``b`` are absolute target means of a*/b* (``None`` keeps the clip's);
    ``chroma`` multiplies the a*/b* standard deviations (0 gives monochrome).
    """

    l_shift: float = 0.0
    contrast: float = 1.0
    a: float | None = None
    b: float | None = None
    chroma: float = 1.0


NEUTRAL = "neutral"
#: The named looks of the draft restyle.
LOOKS: dict[str, Look] = {
    NEUTRAL: Look(contrast=1.08, chroma=1.08),
    "warm": Look(l_shift=2.0, contrast=1.02, a=9.0, b=26.0, chroma=1.1),
    "cool": Look(contrast=1.02, a=-4.0, b=-22.0),
    "noir": Look(l_shift=-4.0, contrast=1.35, a=0.0, b=0.0, chroma=0.0),
    "sepia": Look(contrast=0.95, a=7.0, b=22.0, chroma=0.12),
    "vintage": Look(l_shift=4.0, contrast=0.8, a=5.0, b=14.0, chroma=0.65),
    "vivid": Look(contrast=1.2, chroma=1.6),
    "pastel": Look(l_shift=14.0, contrast=0.7, chroma=0.55),
}
# Keywords (regex, matched on word boundaries) that pick a look, most specific first.
_LOOK_WORDS: tuple[tuple[str, str], ...] = (
    (r"black[\s\-]*(?:and|&)[\s\-]*white|b\s*&\s*w|noir|monochrome|gr[ae]yscale", "noir"),
    (r"sepia", "sepia"),
    (r"vintage|retro|faded|old[\s\-]film|film[\s\-]look", "vintage"),
    (r"pastel|watercolou?r|soft", "pastel"),
    (r"vivid|vibrant|saturated|punchy", "vivid"),
    (r"warm|golden|sunset|sunny", "warm"),
    (r"cool|cold|icy|blue[\s\-]hour|wintry", "cool"),
)


def resolve_look(style: str | None, prompt: str | None = None) -> str:
    """Name of the look for ``style`` (an exact name or keywords), else keywords of ``prompt``.

    Returns :data:`NEUTRAL` when neither names one.
    """
    for text in (style, prompt):
        if not text:
            continue
        key = text.strip().lower()
        if key in LOOKS:
            return key
        for pattern, name in _LOOK_WORDS:
            if re.search(rf"\b(?:{pattern})\b", key):
                return name
    return NEUTRAL


# ------------------------------------------------------------------------------------ LAB transfer

_L8 = 255.0 / 100.0  # OpenCV 8-bit LAB: L* scaled to 0..255, a*/b* offset by 128
_STAT_SAMPLES = 16
_STAT_WIDTH = 128


@dataclass(frozen=True)
class LabStats:
    """Mean and standard deviation of each 8-bit LAB channel (OpenCV scaling)."""

    mean: np.ndarray  # (3,)
    std: np.ndarray  # (3,)


def _small(rgb: np.ndarray, width: int = _STAT_WIDTH) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if w <= width:
        return rgb
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def lab_stats(frames: list[np.ndarray]) -> LabStats:
    """LAB statistics of RGB frames (up to 16 evenly spaced ones, downscaled) taken together."""
    import cv2

    if not frames:
        raise GenerationError("lab_stats: frames is empty")
    picks = np.unique(
        np.linspace(0, len(frames) - 1, min(len(frames), _STAT_SAMPLES)).round().astype(int)
    )
    pixels = np.concatenate(
        [cv2.cvtColor(_small(frames[i]), cv2.COLOR_RGB2LAB).reshape(-1, 3) for i in picks]
    )
    pixels = pixels.astype(np.float64)
    return LabStats(pixels.mean(axis=0), pixels.std(axis=0))


def look_target(look: Look, src: LabStats) -> LabStats:
    """Target LAB statistics of ``look`` applied to a clip with statistics ``src``."""
    mean = src.mean.copy()
    std = src.std.copy()
    mean[0] = np.clip(src.mean[0] + look.l_shift * _L8, 0.0, 255.0)
    std[0] = src.std[0] * look.contrast
    for ch, value in ((1, look.a), (2, look.b)):
        if value is not None:
            mean[ch] = 128.0 + value
        std[ch] = src.std[ch] * look.chroma
    return LabStats(mean, std)


def transfer_lut(src: LabStats, dst: LabStats) -> np.ndarray:
    """Per-channel 8-bit LAB lookup table (256×1×3 uint8) moving ``src`` statistics to ``dst``."""
    v = np.arange(256, dtype=np.float64)[:, None]
    ratio = dst.std / np.maximum(src.std, 1.0)
    lut = (v - src.mean[None, :]) * ratio[None, :] + dst.mean[None, :]
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def apply_lut(rgb: np.ndarray, lut: np.ndarray, strength: float) -> np.ndarray:
    """``rgb`` graded by a LAB ``lut``, blended with the original by ``strength`` (0..1)."""
    import cv2

    if strength <= 0:
        return rgb
    graded = cv2.cvtColor(cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), lut), cv2.COLOR_LAB2RGB)
    if strength >= 1:
        return graded
    return cv2.addWeighted(graded, float(strength), rgb, 1.0 - float(strength), 0.0)


# ------------------------------------------------------------------------------------ text overlays

_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


@functools.lru_cache(maxsize=32)
def font(px: int):
    """A TrueType font of ``px`` pixels: DejaVu Sans when installed, else Pillow's bundled font."""
    from PIL import ImageFont

    for name in _FONT_NAMES:
        try:
            return ImageFont.truetype(name, px)
        except OSError:
            continue
    return ImageFont.load_default(size=px)


def wrap_text(text: str, fnt, max_width: float) -> list[str]:
    """Greedy word wrap of ``text`` (explicit newlines kept) to lines at most ``max_width`` wide."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if line and fnt.getlength(trial) > max_width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return [ln for ln in lines if ln] or [""]


@dataclass(frozen=True)
class Overlay:
    """An RGBA picture placed at ``(x, y)`` on frames; :meth:`apply` returns a new frame."""

    rgb: np.ndarray  # h×w×3 float32
    alpha: np.ndarray  # h×w×1 float32 in 0..1
    x: int
    y: int

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """A copy of ``frame`` with the overlay blended in (the input is never modified)."""
        out = frame.copy()
        h, w = self.alpha.shape[:2]
        region = out[self.y : self.y + h, self.x : self.x + w].astype(np.float32)
        out[self.y : self.y + h, self.x : self.x + w] = np.clip(
            region + (self.rgb - region) * self.alpha, 0, 255
        ).astype(np.uint8)
        return out


def _overlay_from_rgba(rgba: np.ndarray, x: int, y: int, size: tuple[int, int]) -> Overlay:
    """Crop an RGBA picture placed at (x, y) to the frame and keep its non-empty box."""
    w, h = size
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + rgba.shape[1]), min(h, y + rgba.shape[0])
    part = rgba[y0 - y : y1 - y, x0 - x : x1 - x]
    rows, cols = np.nonzero(part[..., 3])
    if rows.size == 0:
        part, x0, y0 = np.zeros((1, 1, 4), np.uint8), 0, 0
    else:
        part = part[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        x0, y0 = x0 + int(cols.min()), y0 + int(rows.min())
    return Overlay(
        part[..., :3].astype(np.float32), part[..., 3:].astype(np.float32) / 255.0, x0, y0
    )


def caption_overlay(
    text: str, size: tuple[int, int], *, font_px: int | None = None, margin_frac: float = 0.06
) -> Overlay:
    """Subtitle text for ``size`` frames: white, black-outlined, word-wrapped, bottom centre."""
    from PIL import Image, ImageDraw

    w, h = size
    px = font_px or max(10, round(h / 16))
    fnt = font(px)
    stroke = max(1, px // 12)
    lines = wrap_text(text, fnt, w * 0.9)
    spacing = max(2, px // 5)
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    block = "\n".join(lines)
    box = draw.multiline_textbbox(
        (0, 0), block, font=fnt, spacing=spacing, align="center", stroke_width=stroke
    )
    tw, th = box[2] - box[0], box[3] - box[1]
    x = (w - tw) // 2 - box[0]
    y = h - round(h * margin_frac) - th - box[1]
    draw.multiline_text(
        (x, y),
        block,
        font=fnt,
        fill=(255, 255, 255, 255),
        spacing=spacing,
        align="center",
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 255),
    )
    return _overlay_from_rgba(np.asarray(canvas), 0, 0, size)


def label_overlay(text: str, size: tuple[int, int]) -> Overlay:
    """A small top-left label (light text on a translucent dark box) for ``size`` frames."""
    from PIL import Image, ImageDraw

    w, h = size
    px = max(8, round(h / 24))
    fnt = font(px)
    pad = max(2, px // 3)
    left, top, right, bottom = fnt.getbbox(text)
    box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
    canvas = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 150))
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=fnt, fill=(255, 230, 120, 255))
    margin = max(2, px // 2)
    return _overlay_from_rgba(np.asarray(canvas), margin, margin, size)


def title_card(
    text: str, size: tuple[int, int], *, background: tuple[int, int, int] = (22, 26, 36)
) -> np.ndarray:
    """A card of ``text`` (word-wrapped, centred, white) on a dark vertical gradient."""
    from PIL import Image, ImageDraw

    w, h = size
    ramp = np.linspace(1.15, 0.7, h, dtype=np.float32)[:, None, None]
    bg = np.clip(np.asarray(background, np.float32)[None, None, :] * ramp, 0, 255).astype(np.uint8)
    card = Image.fromarray(np.ascontiguousarray(np.broadcast_to(bg, (h, w, 3))))
    px = max(10, round(h / 12))
    fnt = font(px)
    lines = wrap_text(text.strip() or " ", fnt, w * 0.8)
    while len(lines) * px * 1.3 > h * 0.85 and px > 8:  # long text: shrink to fit
        px = max(8, round(px * 0.85))
        fnt = font(px)
        lines = wrap_text(text.strip() or " ", fnt, w * 0.8)
    draw = ImageDraw.Draw(card)
    draw.multiline_text(
        (w / 2, h / 2),
        "\n".join(lines),
        font=fnt,
        fill=(245, 245, 240),
        anchor="mm",
        align="center",
        spacing=max(2, px // 4),
    )
    return np.asarray(card).copy()


# ------------------------------------------------------------------------------------ Ken Burns

#: How far a Ken Burns move zooms in over the whole fill.
KEN_BURNS_ZOOM = 1.15


def ken_burns(
    image: np.ndarray,
    n_frames: int,
    size: tuple[int, int],
    *,
    zoom: float = KEN_BURNS_ZOOM,
    seed: int = 0,
) -> list[np.ndarray]:
    """``n_frames`` of a slow zoom-in and pan over ``image``, sub-pixel smooth (``cv2.warpAffine``).

    The first frame shows the whole centre crop of ``image`` at ``size``; the move eases in and
    out toward a view ``zoom`` times closer, off-centre in a direction drawn from ``seed``.
    """
    import cv2

    w, h = size
    work = conform_frame(image, (math.ceil(w * zoom), math.ceil(h * zoom)), "crop")
    ww, wh = work.shape[1], work.shape[0]
    angle = np.random.default_rng(seed).uniform(0, 2 * math.pi)
    reach = 0.8 * np.array([(ww - w) / 2, (wh - h) / 2])
    end_shift = reach * np.array([math.cos(angle), math.sin(angle)])
    centre0 = np.array([ww / 2, wh / 2])
    frames = []
    for k in range(n_frames):
        t = k / (n_frames - 1) if n_frames > 1 else 0.0
        u = 0.5 - 0.5 * math.cos(math.pi * t)  # ease in and out
        scale = (ww / w) * (1 - u) + 1.0 * u  # work pixels per output pixel
        cx, cy = centre0 + end_shift * u
        m = np.array(
            [
                [1 / scale, 0, (0.5 - cx) / scale + w / 2 - 0.5],
                [0, 1 / scale, (0.5 - cy) / scale + h / 2 - 0.5],
            ],
            dtype=np.float64,
        )
        frames.append(
            cv2.warpAffine(work, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        )
    return frames


# ------------------------------------------------------------------------------------ the generator


def load_image(image: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    """An RGB uint8 array from an array or an image file; raises GenerationError naming the file."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise GenerationError(
                f"reference image must be HxWx3 uint8, got {image.shape} {image.dtype}"
            )
        return image
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(image)) as img:
            return np.asarray(img.convert("RGB")).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise GenerationError(f"reference image {image}: cannot read ({exc})") from None


def _check_request(size: tuple[int, int], n: int, what: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise GenerationError(f"size must be (width, height), got {size!r}") from None
    if w < 2 or h < 2:
        raise GenerationError(f"size must be at least 2x2, got {size!r}")
    if n < 1:
        raise GenerationError(f"{what} must be at least 1, got {n!r}")
    return w, h


class DraftGenerator(Generator):
    """Model-free restyle (LAB look transfer) and fill (Ken Burns over a keyframe, or a title card).

    Args:
        reference: the plan's reference image (array or file) restyles move toward, unless a call
            passes its own ``reference``.
        label: burn ``DRAFT restyle`` / ``DRAFT fill`` into a corner of drafted frames.
    """

    name = "draft"

    def __init__(
        self, *, reference: np.ndarray | str | os.PathLike[str] | None = None, label: bool = True
    ) -> None:
        self.reference = load_image(reference) if reference is not None else None
        self.label = label

    def restyle(
        self,
        clip_frames: list[np.ndarray],
        prompt: str,
        style: str | None,
        strength: float,
        size: tuple[int, int],
        steps: int,
        *,
        seed: int = 0,
        reference: np.ndarray | str | os.PathLike[str] | None = None,
    ) -> GenResult:
        """``clip_frames`` at ``size`` graded toward the reference image or the style's look.

        ``steps`` is ignored (no denoiser; the result reports 0). ``model`` in the result names the
        target (``reinhard-lab:reference`` or ``reinhard-lab:<look>``).
        """
        t0 = time.perf_counter()
        size = _check_request(size, len(clip_frames), "len(clip_frames)")
        if not 0.0 <= strength <= 1.0:
            raise GenerationError(f"strength must be in [0, 1], got {strength!r}")
        frames = [conform_frame(f, size, "crop") for f in clip_frames]
        ref = load_image(reference) if reference is not None else self.reference
        src = lab_stats(frames)
        if ref is not None:
            target, model = lab_stats([ref]), "reinhard-lab:reference"
        else:
            look = resolve_look(style, prompt)
            target, model = look_target(LOOKS[look], src), f"reinhard-lab:{look}"
        lut = transfer_lut(src, target)
        out = [apply_lut(f, lut, strength) for f in frames]
        out = self._labelled(out, "DRAFT restyle", size)
        return GenResult(
            out,
            generator=self.name,
            model=model,
            steps=0,
            seconds=time.perf_counter() - t0,
            strength=float(strength),
            seed=seed,
        )

    def fill(
        self,
        context_frames: FillContext,
        prompt: str,
        n_frames: int,
        size: tuple[int, int],
        steps: int,
        *,
        seed: int = 0,
    ) -> GenResult:
        """``n_frames`` at ``size``: a Ken Burns move over the context's keyframe, or a title card.

        The keyframe is ``reference``, else ``first``, else ``last``. ``model`` in the result is
        ``ken-burns`` or ``title-card``.
        """
        t0 = time.perf_counter()
        size = _check_request(size, n_frames, "n_frames")
        ctx = context_frames or FillContext()
        key = next((f for f in (ctx.reference, ctx.first, ctx.last) if f is not None), None)
        if key is not None:
            frames, model = ken_burns(load_image(key), n_frames, size, seed=seed), "ken-burns"
        else:
            card = title_card(prompt, size)
            frames, model = [card] * n_frames, "title-card"
        frames = self._labelled(frames, "DRAFT fill", size)
        return GenResult(
            frames,
            generator=self.name,
            model=model,
            steps=0,
            seconds=time.perf_counter() - t0,
            seed=seed,
        )

    def _labelled(
        self, frames: list[np.ndarray], text: str, size: tuple[int, int]
    ) -> list[np.ndarray]:
        if not self.label:
            return frames
        overlay = label_overlay(text, size)
        cache: dict[int, np.ndarray] = {}  # the same frame object (a held card) is labelled once
        out = []
        for f in frames:
            if id(f) not in cache:
                cache[id(f)] = overlay.apply(f)
            out.append(cache[id(f)])
        return out


__all__ = [
    "LOOKS",
    "NEUTRAL",
    "DraftGenerator",
    "LabStats",
    "Look",
    "Overlay",
    "apply_lut",
    "best_window",
    "caption_overlay",
    "font",
    "frame_sharpness",
    "ken_burns",
    "lab_stats",
    "label_overlay",
    "load_image",
    "look_target",
    "resolve_look",
    "title_card",
    "transfer_lut",
    "wrap_text",
]
