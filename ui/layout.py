"""Layout rules Streamlit has no setting for: rows of columns that wrap two to a line on a phone."""

from __future__ import annotations

PHONE_MAX_WIDTH_PX = 640  # Streamlit stacks columns one per line below this width


def two_up_on_phone(container_key: str) -> str:
    """CSS for the keyed container: its columns wrap, two to a line on a phone (not one per line)."""
    scope = f".st-key-{container_key}"
    return (
        f"<style>{scope} [data-testid=\"stHorizontalBlock\"] {{ flex-wrap: wrap; row-gap: 0.75rem; }}\n"
        f"@media (max-width: {PHONE_MAX_WIDTH_PX}px) {{ {scope} [data-testid=\"stColumn\"] {{ "
        "flex: 0 0 calc(50% - 0.5rem) !important; width: calc(50% - 0.5rem) !important; min-width: 0 !important; }"
        " }</style>"
    )


# Streamlit leaves ~6rem above every page's title: on a phone that pushes results below the fold.
PAGE_CSS = ("<style>[data-testid=\"stMainBlockContainer\"] { padding-top: 3rem; }\n"
            f"@media (max-width: {PHONE_MAX_WIDTH_PX}px) {{ [data-testid=\"stMainBlockContainer\"] "
            "{ padding-top: 2.5rem; } }</style>")
