"""Akari's entrypoint: the navigation, with stable URLs, showing each person only the pages they may open."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.guard import signed_in_user

PAGES = Path(__file__).resolve().parent / "pages"  # anchored: Streamlit resolves relative paths from the cwd

st.set_page_config(page_title="Akari", page_icon="🏮", layout="wide")

user = signed_in_user()
generate = st.Page(PAGES / "generate.py", title="Generate", icon="✨", url_path="generate", default=True)
gallery = st.Page(PAGES / "gallery.py", title="Gallery", icon="🖼️", url_path="gallery")
usage = st.Page(PAGES / "usage.py", title="Usage", icon="📊", url_path="usage")
account = st.Page(PAGES / "account.py", title="Account", icon="👤", url_path="account")
admin = st.Page(PAGES / "admin.py", title="Admin", icon="🛠️", url_path="admin")

if user is None:
    # Every page is reachable by its URL but none is listed: each one shows only the sign-in until someone signs in,
    # and a deep link (/gallery) lands on that page once they have.
    navigation = st.navigation([generate, gallery, usage, account, admin], position="hidden")
elif user.is_admin:
    navigation = st.navigation([generate, gallery, usage, account, admin])
else:
    navigation = st.navigation([generate, gallery, usage, account])
navigation.run()
