"""QR codes for deep links (segno: pure Python, writes PNG without Pillow)."""

from __future__ import annotations

import io

import segno


def qr_png(data: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
