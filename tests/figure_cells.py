"""A cell that displays figures, for the tests of figures in observations: matplotlib where it is
installed (the kernel runs on this Python), else a PNG written by hand and shown with IPython."""

from __future__ import annotations

import importlib.util
import struct
import zlib


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid grey PNG of `width` x `height` pixels, built from its chunks."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = b"".join(b"\x00" + bytes(range(width)) for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def plotting_code(figures: int = 1) -> str:
    """A cell that displays `figures` PNG figures."""
    if importlib.util.find_spec("matplotlib") is not None:
        return "import matplotlib.pyplot as plt\n" + "".join(
            f"plt.figure(figsize=(2, 2)); plt.plot([0, {n + 1}]); plt.show()\n" for n in range(figures))
    return ("from IPython.display import Image, display\n"
            + "".join(f"display(Image(data={tiny_png(3 + n, 2)!r}))\n" for n in range(figures)))
