"""Pytest fixtures for the fake Cloudinary server: a running fake and settings that point the store at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from akari.config import Settings, load_settings
from tests.fakes.cloudinary_server import FakeCloudinary


@pytest.fixture
def fake_cloudinary() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture
def cloudinary_settings(fake_cloudinary: FakeCloudinary, tmp_path: Path) -> Settings:
    """Settings with AKARI_STORE=cloudinary and CLOUDINARY_URL aimed at the fake (short upload timeout)."""
    return load_settings(
        env={
            "AKARI_DATA_DIR": str(tmp_path / "data"),
            "AKARI_STORE": "cloudinary",
            "AKARI_UPLOAD_TIMEOUT": "5",
            **fake_cloudinary.env(),
        }
    )
