"""Frame preprocessing for the encoders: open_clip's eval transform as batched torch ops.

Owns `Preprocessor`: HxWx3 uint8 RGB arrays of any sizes in, one (n, 3, H, W) float32 tensor out
(resize per the model's resize mode, center crop or pad, normalise), without PIL per image. torch
is imported when a batch is processed, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_video.embed.registry import UnknownModel

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _check_image(i: int, image: np.ndarray) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(
            f"images[{i}] must be an HxWx3 uint8 RGB array, got shape={shape} dtype={dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"images[{i}] is empty: shape={image.shape}")


class Preprocessor:
    """Batched torch version of open_clip's eval transform (resize, center crop, normalise)."""

    def __init__(self, cfg: dict[str, Any]):
        self.size = _pair(cfg.get("size", 224))
        self.mean = tuple(float(m) for m in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.std = tuple(float(s) for s in cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        self.resize_mode = cfg.get("resize_mode", "shortest")
        self.fill = float(cfg.get("fill_color", 0))
        interpolation = cfg.get("interpolation", "bicubic")
        self.interpolation = "bilinear" if interpolation == "bilinear" else "bicubic"
        if self.resize_mode not in ("shortest", "longest", "squash"):
            raise UnknownModel(f"resize_mode={self.resize_mode!r} is not supported")

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(n, 3, H, W) float32 model input from HxWx3 uint8 RGB arrays (any sizes)."""
        import torch

        out = torch.empty((len(images), 3, *self.size), dtype=torch.float32)
        for shape, indices in self._groups(images).items():
            batch = torch.from_numpy(np.stack([images[i] for i in indices]))
            out[indices] = self._resize(batch.permute(0, 3, 1, 2).float(), (shape[0], shape[1]))
        mean = torch.tensor(self.mean).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std).view(1, 3, 1, 1) * 255.0
        return out.sub_(mean).div_(std)

    @staticmethod
    def _groups(images: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
        """Image indices grouped by shape, so each group is resized in one call."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            _check_image(i, image)
            groups.setdefault(image.shape, []).append(i)
        return groups

    def _resize(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """(n, 3, h, w) 0..255 floats → (n, 3, H, W) per the resize mode."""
        if self.resize_mode == "squash":
            return self._interpolate(batch, self.size)
        if self.resize_mode == "longest":
            return self._fit_and_pad(batch, hw)
        return self._crop_and_resize(batch, hw)

    def _interpolate(self, batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        import torch.nn.functional as F

        if tuple(batch.shape[-2:]) == size:
            return batch
        resized = F.interpolate(
            batch, size=size, mode=self.interpolation, antialias=True, align_corners=False
        )
        return resized.clamp_(0.0, 255.0)

    def _crop_and_resize(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Resize the short side to fit, then center crop.

        The geometry of torchvision's Resize + CenterCrop (open_clip's ResizeKeepRatio when the
        model input is not square).
        """
        (h, w), (th, tw) = hw, self.size
        if th == tw:  # torchvision Resize(int): short side exact, long side truncated
            short, long = min(h, w), max(h, w)
            new_long = int(th * long / short)
            nh, nw = (th, new_long) if h <= w else (new_long, th)
        else:  # open_clip ResizeKeepRatio
            ratio = min(h / th, w / tw)
            nh, nw = round(h / ratio), round(w / ratio)
        resized = self._interpolate(batch, (nh, nw))
        top, left = int(round((nh - th) / 2.0)), int(round((nw - tw) / 2.0))
        return resized[:, :, top : top + th, left : left + tw]

    def _fit_and_pad(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Resize the long side to fit and pad the rest with the fill colour, centered."""
        import torch

        (h, w), (th, tw) = hw, self.size
        ratio = max(h / th, w / tw)
        nh, nw = max(1, min(th, round(h / ratio))), max(1, min(tw, round(w / ratio)))
        resized = self._interpolate(batch, (nh, nw))
        out = torch.full((batch.shape[0], 3, th, tw), self.fill, dtype=batch.dtype)
        top, left = (th - nh) // 2, (tw - nw) // 2
        out[:, :, top : top + nh, left : left + nw] = resized
        return out
