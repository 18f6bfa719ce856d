"""Streamlit-side helpers shared by app.py and the pages (the core in akari/ knows nothing of Streamlit)."""
