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
``label=False``; labels and title cards are drawn by :mod:`rag_video.media.captions`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_video.generate.base import (
    FillRequest,
    GenerationError,
    Generator,
    Rendering,
    RestyleRequest,
)
from rag_video.media.captions import label_overlay, title_card
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


class DraftGenerator(Generator):
    """Model-free restyle (LAB look transfer) and fill (Ken Burns over a keyframe, or a title card).

    Args:
        reference: the plan's reference image (array or file) restyles move toward.
        label: burn ``DRAFT restyle`` / ``DRAFT fill`` into a corner of drafted frames.
    """

    name = "draft"
    min_size = 2

    def __init__(
        self, *, reference: np.ndarray | str | os.PathLike[str] | None = None, label: bool = True
    ) -> None:
        self.reference = load_image(reference) if reference is not None else None
        self.label = label

    def restyle_frames(self, request: RestyleRequest) -> Rendering:
        """``clip_frames`` at ``size`` graded toward the reference image or the style's look.

        ``steps`` is ignored (no denoiser; the result reports 0). ``model`` in the result names the
        target (``reinhard-lab:reference`` or ``reinhard-lab:<look>``).
        """
        size = request.size
        frames = [conform_frame(f, size, "crop") for f in request.clip_frames]
        src = lab_stats(frames)
        if self.reference is not None:
            target, model = lab_stats([self.reference]), "reinhard-lab:reference"
        else:
            look = resolve_look(request.style, request.prompt)
            target, model = look_target(LOOKS[look], src), f"reinhard-lab:{look}"
        lut = transfer_lut(src, target)
        out = [apply_lut(f, lut, request.strength) for f in frames]
        return Rendering(
            self._labelled(out, "DRAFT restyle", size),
            model=model,
            strength=float(request.strength),
        )

    def fill_frames(self, request: FillRequest) -> Rendering:
        """``n_frames`` at ``size``: a Ken Burns move over the context's keyframe, or a title card.

        The keyframe is ``reference``, else ``first``, else ``last``. ``model`` in the result is
        ``ken-burns`` or ``title-card``.
        """
        ctx, n, size = request.context, request.n_frames, request.size
        key = next((f for f in (ctx.reference, ctx.first, ctx.last) if f is not None), None)
        if key is not None:
            frames, model = ken_burns(load_image(key), n, size, seed=request.seed), "ken-burns"
        else:
            card = title_card(request.prompt, size)
            frames, model = [card] * n, "title-card"
        return Rendering(self._labelled(frames, "DRAFT fill", size), model=model)

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
    "apply_lut",
    "ken_burns",
    "lab_stats",
    "load_image",
    "look_target",
    "resolve_look",
    "transfer_lut",
]
