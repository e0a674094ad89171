"""Figures for vision models: the PNGs an observation lists (`obs["images"]`, saved by the env in
the run dir) as chat-completions image content parts (base64 data URLs), capped in number and
bytes, and the bookkeeping that keeps only the latest figures in a conversation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..figures import read_figure

IMAGE_TOKENS = 800  # what an image costs in a prompt, about (providers charge by tiles)
FIGURES_INTRO = "The figures the last cell displayed:"


def image_parts(run_dir: Path | None, images: Any, *, max_images: int, max_bytes: int) -> list[dict[str, Any]]:
    """Content parts for the figures `images` lists (the observation's entries), read from
    `run_dir`: at most `max_images`, `max_bytes` of PNG in all; a figure that is missing, not
    a PNG or over what is left is skipped."""
    if run_dir is None or not isinstance(images, (list, tuple)):
        return []
    parts: list[dict[str, Any]] = []
    left = max_bytes
    for image in images:
        if len(parts) >= max_images:
            break
        path = image.get("path") if isinstance(image, dict) else None
        data = read_figure(run_dir, path) if isinstance(path, str) else None
        if data is None or len(data) > left:
            continue
        left -= len(data)
        url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def without_images(message: dict[str, Any]) -> dict[str, Any]:
    """`message` with its image parts replaced by a note (an older turn's figures, no longer sent)."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    kept = [part for part in content if part.get("type") != "image_url"]
    dropped = len(content) - len(kept)
    if not dropped:
        return message
    texts = [str(part.get("text", "")) for part in kept if part.get("type") == "text"]
    texts.append(f"[{dropped} figure(s) no longer shown]")
    return {**message, "content": "\n".join(text for text in texts if text)}


def content_tokens(content: Any, count: Callable[[str], int]) -> int:
    """Tokens of a message's content: its text counted by `count`, an image at IMAGE_TOKENS."""
    if not isinstance(content, list):
        return count(str(content or ""))
    return sum(IMAGE_TOKENS if part.get("type") == "image_url" else count(str(part.get("text", "")))
               for part in content if isinstance(part, dict))
