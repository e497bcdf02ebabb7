"""The one image codec: RGB uint8 arrays to and from PNG/JPEG bytes (OpenCV, imported on use)."""

from __future__ import annotations

import numpy as np

_FORMATS = {"png": ".png", "jpeg": ".jpg"}


def encode_rgb(rgb: np.ndarray, fmt: str = "png", *, quality: int = 92) -> bytes:
    """`rgb` (h, w, 3 uint8) as PNG (fast, lossless) or JPEG bytes at `quality`."""
    import cv2

    if fmt not in _FORMATS:
        raise ValueError(f"fmt={fmt!r}: expected one of {', '.join(_FORMATS)}")
    params = (
        [cv2.IMWRITE_PNG_COMPRESSION, 1] if fmt == "png" else [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    ok, data = cv2.imencode(_FORMATS[fmt], np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"image of shape {rgb.shape} cannot be encoded as {fmt}")
    return data.tobytes()


def decode_rgb(data: bytes, what: str = "image") -> np.ndarray:
    """RGB uint8 array of PNG/JPEG `data`; ValueError naming `what` when it does not decode."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{what} bytes are not a decodable image")
    return np.ascontiguousarray(bgr[:, :, ::-1])
