"""Akari's entrypoint: the navigation, with stable URLs; each page gates itself and the menu lists what one may open."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"  # anchored: Streamlit resolves relative paths from the cwd

st.set_page_config(page_title="Akari", page_icon="🏮", layout="wide")

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
# Every page answers at its URL and gates itself: logged out, only the sign-in (a deep link lands on its page once
# the visitor has signed in); a member opening /admin reads why it is closed to them, never a blank page. The menu
# is drawn by the guard's sidebar, so it lists only what this person may open.
pages = [home, generate, gallery, usage, account, admin]
navigation = st.navigation(pages, position="hidden")
navigation.run()
