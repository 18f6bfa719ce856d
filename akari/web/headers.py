"""Security headers on every HTTP response the app serves, and Streamlit's metrics closed to all but admins."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akari import runtime
from akari.config import Settings
from akari.errors import AkariError
from akari.gallery import Viewer

METRICS_PATH = "/_stcore/metrics"


def content_security_policy(image_hosts: tuple[str, ...] = ()) -> str:
    """What Streamlit tolerates: its charts (Vega) compile expressions at run time and its frontend and components
    use inline code and styles, so scripts keep 'unsafe-inline' and 'unsafe-eval' but only from this origin; no
    plugins, no framing by other sites, no form posts or base URLs elsewhere, images only from here and the store."""
    images = " ".join(("'self'", "data:", "blob:", *image_hosts))
    return "; ".join((
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self' blob: data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def security_headers(image_hosts: tuple[str, ...] = (), *, behind_tls: bool = False) -> dict[str, str]:
    tls = {"Strict-Transport-Security": "max-age=31536000"} if behind_tls else {}
    return {
        **tls,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": content_security_policy(image_hosts),
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


def headers_for(settings: Settings) -> dict[str, str]:
    """Images may also come from Cloudinary's delivery host, when it is the store; behind TLS, browsers are told to
    keep to HTTPS (HSTS)."""
    hosts: tuple[str, ...] = ()
    if settings.cloudinary is not None:
        parsed = urlparse(settings.cloudinary.delivery_base or "https://res.cloudinary.com")
        hosts = (f"{parsed.scheme}://{parsed.netloc}",)
    return security_headers(hosts, behind_tls=settings.behind_tls)


class SecurityHeaders:
    """Pure ASGI middleware (it must not buffer Streamlit's responses nor touch its WebSocket)."""

    def __init__(self, app: ASGIApp, viewer_of: Callable[[Request], Viewer | None]) -> None:
        self.app = app
        self.viewer_of = viewer_of
        self._headers: dict[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            try:
                self._headers = headers_for(runtime.open_studio().settings)
            except AkariError:  # not started (yet): the strict set, without the image host; kept once started
                return security_headers()
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Worked out once: after that no request pays a trip to a worker thread for them.
        headers = self._headers or await run_in_threadpool(self.headers)
        if scope.get("path", "").endswith(METRICS_PATH):
            viewer = await run_in_threadpool(self.viewer_of, Request(scope))
            if viewer is None or not getattr(viewer, "is_admin", False):
                response = PlainTextResponse("Not found", status_code=404, headers=headers)
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                target = MutableHeaders(scope=message)
                for name, value in headers.items():
                    if name not in target:
                        target[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
