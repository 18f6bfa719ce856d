"""Akari's own HTTP routes, served by the app's server next to the pages (Starlette; nothing of Streamlit here)."""
