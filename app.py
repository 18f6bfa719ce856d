"""Akari's entrypoint: the navigation, with stable URLs, showing each person only the pages they may open."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.guard import signed_in_user

PAGES = Path(__file__).resolve().parent / "pages"  # anchored: Streamlit resolves relative paths from the cwd

st.set_page_config(page_title="Akari", page_icon="🏮", layout="wide")

user = signed_in_user()
generate = st.Page(PAGES / "generate.py", title="Generate", icon=":material/auto_awesome:", url_path="generate")
gallery = st.Page(PAGES / "gallery.py", title="Gallery", icon=":material/photo_library:", url_path="gallery")
usage = st.Page(PAGES / "usage.py", title="Usage", icon=":material/bar_chart:", url_path="usage")
account = st.Page(PAGES / "account.py", title="Account", icon=":material/person:", url_path="account")
admin = st.Page(PAGES / "admin.py", title="Admin", icon=":material/admin_panel_settings:", url_path="admin")


def _home() -> None:
    # Streamlit serves the default page at "/" and ignores its url_path: a small default page that moves on to
    # Generate keeps /generate a real, bookmarkable address.
    st.switch_page(generate)


home = st.Page(_home, title="Home", url_path="home", default=True)
pages = [home, generate, gallery, usage, account]
if user is not None and user.is_admin:
    pages.append(admin)
elif user is None:
    # Logged out, every page answers at its URL with the sign-in only (each gates itself), and a deep link
    # (/gallery) lands on that page once the visitor has signed in.
    pages.append(admin)
# The menu is drawn by the guard's sidebar, so it lists only what this person may open.
navigation = st.navigation(pages, position="hidden")
navigation.run()
