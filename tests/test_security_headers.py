"""The security headers' content: what the middleware adds to every response (the browser suite checks it live)."""

from __future__ import annotations

from akari.config import load_settings
from akari.web.headers import headers_for, security_headers


def test_the_policy_forbids_framing_plugins_and_foreign_scripts() -> None:
    headers = security_headers()
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy and "base-uri 'self'" in policy
    assert "script-src 'self' " in policy and "https:" not in policy
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in headers


def test_cloudinary_images_and_hsts_follow_the_settings(tmp_path) -> None:
    settings = load_settings(env={"AKARI_DATA_DIR": str(tmp_path), "AKARI_BEHIND_TLS": "true",
                                  "CLOUDINARY_URL": "cloudinary://k:s@cloud",
                                  "CLOUDINARY_DELIVERY_BASE": "https://images.example.net/base"})
    headers = headers_for(settings)
    assert "img-src 'self' data: blob: https://images.example.net;" in headers["Content-Security-Policy"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
