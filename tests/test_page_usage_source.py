"""The Usage page's source filter, through Streamlit's AppTest."""

from __future__ import annotations

from datetime import timedelta

from akari.db.models import utcnow
from akari.studio import Studio
from tests.gallery_data import add_generation
from tests.test_pages_gallery_usage import fresh_streamlit, metrics, open_page, people, rerun, studio  # noqa: F401
from ui.usage_source import SOURCE_KEY


def test_the_usage_page_narrows_every_figure_to_the_source_picked(studio: Studio, people) -> None:  # noqa: F811
    ada = people["ada"]
    for i, source in enumerate(("ui", "ui", "api", "cli")):
        add_generation(studio, ada, f"ada {i}", source=source, created_at=utcnow() - timedelta(minutes=5 - i))
    page = open_page("usage", "ada")
    assert metrics(page)["Generations"] == "4"
    page.get_by_key(SOURCE_KEY).set_value("api")
    assert metrics(rerun(page))["Generations"] == "1"
    page.get_by_key(SOURCE_KEY).set_value("ui")
    assert metrics(rerun(page))["Generations"] == "2"
    page.get_by_key(SOURCE_KEY).set_value(None)
    assert metrics(rerun(page))["Generations"] == "4"
