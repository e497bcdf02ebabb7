"""Text drawn onto frames: subtitle captions, corner labels and title cards.

Assembly burns subtitles in with :func:`caption_overlay`; the draft renderer labels its frames
with :func:`label_overlay` and makes a fill of an empty context into a :func:`title_card`. Text is
set in DejaVu Sans when installed, else in Pillow's bundled font.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont, ImageFont

    Font = FreeTypeFont | ImageFont

_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


@functools.lru_cache(maxsize=32)
def font(px: int) -> Font:
    """A TrueType font of ``px`` pixels: DejaVu Sans when installed, else Pillow's bundled font."""
    from PIL import ImageFont

    for name in _FONT_NAMES:
        try:
            return ImageFont.truetype(name, px)
        except OSError:
            continue
    return ImageFont.load_default(size=px)


def wrap_text(text: str, fnt: Font, max_width: float) -> list[str]:
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


LABEL_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")


def label_overlay(text: str, size: tuple[int, int], position: str = "top-left") -> Overlay:
    """A small corner label (light text on a translucent dark box) for ``size`` frames, at
    ``position`` (one of :data:`LABEL_POSITIONS`)."""
    if position not in LABEL_POSITIONS:
        raise ValueError(f"position must be one of {', '.join(LABEL_POSITIONS)}, got {position!r}")
    from PIL import Image, ImageDraw

    w, h = size
    px = max(8, round(h / 24))
    fnt = font(px)
    pad = max(2, px // 3)
    left, top, right, bottom = (int(v) for v in fnt.getbbox(text))
    box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
    canvas = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 150))
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=fnt, fill=(255, 230, 120, 255))
    margin = max(2, px // 2)
    x = margin if position.endswith("left") else max(0, w - box_w - margin)
    y = margin if position.startswith("top") else max(0, h - box_h - margin)
    return _overlay_from_rgba(np.asarray(canvas), x, y, size)


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


__all__ = [
    "LABEL_POSITIONS",
    "Overlay",
    "caption_overlay",
    "font",
    "label_overlay",
    "title_card",
    "wrap_text",
]
