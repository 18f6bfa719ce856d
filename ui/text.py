"""Showing text from users and providers exactly as written, never as Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")


def plain(text: str) -> str:
    """Escape Markdown (and the HTML-ish bits Streamlit honours) for st.error, st.caption and friends."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
