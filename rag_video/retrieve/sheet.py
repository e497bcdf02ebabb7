"""Contact sheets: one image of search results' thumbnails with their scores."""

from __future__ import annotations

import io
from pathlib import Path

from rag_video.store import atomic_write_bytes

TILE = (160, 90)
COLUMNS = 5


def contact_sheet(rows: list[dict], path: str | Path, *, columns: int = COLUMNS) -> Path:
    """Write a JPEG grid of the rows' thumbnails, each captioned with rank, score and time."""
    from PIL import Image, ImageDraw

    columns = max(1, min(columns, len(rows) or 1))
    n_rows = max(1, -(-len(rows) // columns))
    caption_h = 16
    sheet = Image.new("RGB", (columns * TILE[0], n_rows * (TILE[1] + caption_h)), "black")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        x, y = (i % columns) * TILE[0], (i // columns) * (TILE[1] + caption_h)
        if row.get("thumbnail"):
            thumb = Image.open(io.BytesIO(row["thumbnail"])).convert("RGB")
            thumb.thumbnail(TILE)
            sheet.paste(
                thumb, (x + (TILE[0] - thumb.width) // 2, y + (TILE[1] - thumb.height) // 2)
            )
        score = row.get("score")
        shown = "text" if score is None else f"{score:.3f}"
        label = f"#{row.get('rank', i + 1)} {shown} @{row.get('start_s', 0):.1f}s"
        draw.text((x + 3, y + TILE[1] + 2), label, fill="white")
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=88)
    return atomic_write_bytes(Path(path), buf.getvalue())
