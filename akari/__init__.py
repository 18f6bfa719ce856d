"""Akari: a small team's text-to-image studio (core package, no Streamlit)."""

__version__ = "0.1.0"
