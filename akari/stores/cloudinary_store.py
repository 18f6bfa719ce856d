"""Images kept on Cloudinary through the official SDK, with vendor errors translated to StoreError."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import cloudinary

# The SDK's upload pool is built once, when cloudinary.uploader is first imported, with one connection per host by
# default: parallel uploads from the workers would each open and drop a connection ("Connection pool is full").
cloudinary.CERT_KWARGS.setdefault("maxsize", 64)

import cloudinary.api  # noqa: E402  (after the pool size above)
import cloudinary.exceptions  # noqa: E402
import cloudinary.uploader  # noqa: E402
import cloudinary.utils  # noqa: E402
import requests  # noqa: E402

from akari.errors import NotFound, StoreError  # noqa: E402
from akari.imaging import THUMBNAIL_SIZE  # noqa: E402
from akari.stores import ImageMeta, Size, StoredImage  # noqa: E402

if TYPE_CHECKING:
    from akari.config import CloudinaryCredentials, Settings

DEFAULT_DELIVERY = "https://res.cloudinary.com"
CHECK_TIMEOUT_S = 10.0  # a status page must not hang for a full upload timeout
MAX_CONTEXT_PROMPT = 1000
MAX_DETAIL = 500
_ADMIN_HINT = "Ask your administrator to check CLOUDINARY_URL."
# One named size for every grid thumbnail: each distinct transformation counts toward the plan's quota.
THUMBNAIL_TRANSFORMATION: dict[str, Any] = {
    "width": THUMBNAIL_SIZE,
    "height": THUMBNAIL_SIZE,
    "crop": "fill",
    "fetch_format": "auto",
    "quality": "auto",
}


def _delivery_type(private: bool) -> str:
    return "authenticated" if private else "upload"


def _tag_safe(owner: str) -> str:
    """Tags are comma separated on the wire, so keep only characters that cannot split or confuse one."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", owner)[:100] or "unknown"


class CloudinaryStore:
    name = "cloudinary"

    def __init__(
        self, credentials: CloudinaryCredentials, *, upload_timeout: float = 60.0, read_timeout: float = 60.0
    ) -> None:
        self.credentials = credentials
        self.upload_timeout = upload_timeout
        self.read_timeout = read_timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudinaryStore:
        if settings.cloudinary is None:
            raise StoreError("Cloudinary is not configured. " + _ADMIN_HINT, reason="store_config", retryable=False)
        return cls(settings.cloudinary, upload_timeout=settings.upload_timeout, read_timeout=settings.read_timeout)

    def _account(self) -> dict[str, Any]:
        """Per-call credentials: cloudinary.config() is process-wide and may hold someone else's account."""
        creds = self.credentials
        return {
            "cloud_name": creds.cloud_name,
            "api_key": creds.api_key,
            "api_secret": creds.api_secret,
            "upload_prefix": creds.upload_prefix,  # None falls back to https://api.cloudinary.com
            "oauth_token": None,  # a global token would otherwise replace our signature
            "upload_preset": None,
        }

    def save(self, data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        with self._translated("save the image"):
            result = cloudinary.uploader.upload(
                data,  # raw bytes travel as a multipart file part, a third smaller than a data URI
                public_id=name,  # the generation's own name: a retried upload replaces, never duplicates
                folder=self.credentials.folder,
                resource_type="image",
                tags=["akari", f"user:{_tag_safe(meta.owner)}"],
                context={"prompt": meta.prompt[:MAX_CONTEXT_PROMPT], "generation": str(meta.generation_id)},
                overwrite=True,
                invalidate=True,
                type=_delivery_type(private),
                timeout=self.upload_timeout,  # the uploader ignores config().timeout and could hang for ever
                **self._account(),
            )
        # Folder modes differ between accounts, so the returned public_id is the only reliable key.
        return StoredImage(
            key=str(result["public_id"]),
            url=str(result.get("secure_url") or result["url"]),
            width=int(result.get("width") or 0),
            height=int(result.get("height") or 0),
            bytes=int(result.get("bytes") or len(data)),
            # Cloudinary says "jpg" where the rest of the app (MIME types, extensions) says "jpeg".
            format={"jpg": "jpeg"}.get(str(result.get("format") or fmt), str(result.get("format") or fmt)),
        )

    def display_url(self, key: str, size: Size, *, private: bool) -> str:
        """The original, or the one named grid thumbnail (each distinct transformation counts toward the plan).
        A private image is an "authenticated" asset: its URL carries the SDK's signature, without which Cloudinary
        refuses it, and stops working the moment the image is shared or unshared (the asset changes type)."""
        options: dict[str, Any] = dict(THUMBNAIL_TRANSFORMATION) if size == "thumb" else {}
        if private and self.credentials.auth_token_key:
            options["auth_token"] = self._auth_token()
        url, _ = cloudinary.utils.cloudinary_url(
            key, secure=True, cloud_name=self.credentials.cloud_name, type=_delivery_type(private),
            sign_url=private, api_secret=self.credentials.api_secret if private else None, **options)
        return self._delivered(url)

    def _auth_token(self, now: float | None = None) -> dict[str, Any]:
        """A token that expires: it starts at the last half-window boundary, so a page shows the same URL (and the
        browser reuses its cached image) for half the lifetime, and every URL works for at least half of it."""
        lifetime = self.credentials.private_url_seconds
        step = max(1, lifetime // 2)
        start = int((time.time() if now is None else now) // step * step)
        return {"key": self.credentials.auth_token_key, "start_time": start, "duration": lifetime}

    def _delivered(self, url: str) -> str:
        """The SDK's URL on the delivery host this account uses (CLOUDINARY_DELIVERY_BASE, else Cloudinary's)."""
        base = self.credentials.delivery_base
        if base and url.startswith(DEFAULT_DELIVERY):
            return base.rstrip("/") + url[len(DEFAULT_DELIVERY):]
        return url

    def set_private(self, key: str, private: bool) -> None:
        """Switch the asset's delivery: "authenticated" (signed URLs only) when private, "upload" when shared; the
        CDN copies are invalidated, so a URL handed out before stops working."""
        try:
            with self._translated("change who can see the image"):
                cloudinary.uploader.rename(key, key, type=_delivery_type(not private), to_type=_delivery_type(private),
                                           overwrite=True, invalidate=True, timeout=self.upload_timeout,
                                           **self._account())
        except StoreError as exc:
            if exc.reason != "store_not_found":  # already of that type: nothing to switch
                raise

    def delete(self, key: str) -> None:
        result: dict[str, Any] = {}
        for delivery in ("upload", "authenticated"):  # the key alone does not say which type the asset has now
            with self._translated("delete the image"):
                result = cloudinary.uploader.destroy(key, invalidate=True, resource_type="image", type=delivery,
                                                     timeout=self.upload_timeout, **self._account())
            if result.get("result") == "ok":
                return
        if result.get("result") not in ("ok", "not found"):
            raise StoreError(
                "Cloudinary could not delete the image. Please try again.",
                detail=f"destroy {key!r} answered {result!r}",
                reason="store_failed",
            )

    def read(self, key: str) -> bytes:
        try:
            return self._read(self.display_url(key, "full", private=True))
        except NotFound:  # a shared image is not an authenticated asset
            return self._read(self.display_url(key, "full", private=False))

    def _read(self, url: str) -> bytes:
        try:
            response = requests.get(url, timeout=self.read_timeout)
        except requests.RequestException as exc:
            raise StoreError(
                "Cloudinary could not be reached to fetch the image. Please try again.",
                detail=self._redact(f"{type(exc).__name__}: {exc}"),
                reason="store_unavailable",
            ) from exc
        with response:
            if response.status_code == 404:
                raise NotFound("This image is no longer on Cloudinary.", detail=f"404 for {url}")
            if response.status_code != 200:
                raise StoreError(
                    "Cloudinary could not send the image. Please try again.",
                    detail=f"HTTP {response.status_code} for {url}",
                    code=str(response.status_code),
                    reason="store_unavailable",
                    retryable=response.status_code >= 500,
                )
            return response.content

    def check(self) -> str:
        with self._translated("reach Cloudinary"):
            cloudinary.api.ping(timeout=min(self.upload_timeout, CHECK_TIMEOUT_S), **self._account())
        return f"Connected: cloud {self.credentials.cloud_name}"

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        # The SDK raises its Error tree, ValueError for missing credentials and, from the Admin API, a bare
        # Exception for statuses it has no class for; every one of them must reach the user as a sentence.
        except Exception as exc:
            raise self._store_error(action, exc) from exc

    def _redact(self, text: str) -> str:
        secret = self.credentials.api_secret
        text = text.replace(secret, "***") if secret else text
        return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."

    def _store_error(self, action: str, exc: Exception) -> StoreError:
        text = str(exc)
        detail = self._redact(f"{type(exc).__name__}: {text}")
        code = type(exc).__name__
        lowered = text.lower()

        def error(message: str, reason: str, retryable: bool) -> StoreError:
            return StoreError(message, detail=detail, code=code, reason=reason, retryable=retryable)

        if isinstance(exc, cloudinary.exceptions.AuthorizationRequired) or "invalid signature" in lowered:
            return error("The server's Cloudinary credentials were refused. " + _ADMIN_HINT, "store_auth", False)
        if isinstance(exc, ValueError) and "must supply" in lowered:
            return error("The server's Cloudinary settings are incomplete. " + _ADMIN_HINT, "store_config", False)
        if isinstance(exc, cloudinary.exceptions.NotAllowed):
            return error(
                f"Cloudinary refused to {action}: the account does not allow it. "
                "Ask your administrator to check the Cloudinary plan.",
                "store_forbidden",
                False,
            )
        if isinstance(exc, cloudinary.exceptions.RateLimited):
            return error(
                "Cloudinary is receiving too many requests right now. Please try again in a minute.",
                "store_rate_limited",
                True,
            )
        if isinstance(exc, cloudinary.exceptions.BadRequest):
            return self._bad_request(action, lowered, error)
        if isinstance(exc, cloudinary.exceptions.NotFound):
            return error(
                f"Cloudinary could not {action}: it does not know this cloud or image. " + _ADMIN_HINT,
                "store_not_found",
                False,
            )
        if "timeout" in lowered or "timed out" in lowered:
            return error(f"Cloudinary took too long to {action}. Please try again.", "store_timeout", True)
        # 5xx, proxy HTML pages, refused connections and anything unrecognised: usually passing trouble.
        return error(
            f"Cloudinary could not {action} just now. Please try again in a moment.", "store_unavailable", True
        )

    @staticmethod
    def _bad_request(action: str, lowered: str, error: Callable[[str, str, bool], StoreError]) -> StoreError:
        if "too large" in lowered:
            return error("The image is too large for the Cloudinary plan.", "store_too_large", False)
        if "stale request" in lowered:
            return error(
                "Cloudinary refused the request because the server's clock is wrong. "
                "Ask your administrator to synchronise the clock.",
                "store_clock",
                False,
            )
        if "invalid image" in lowered:
            return error("Cloudinary did not accept the file as an image.", "store_rejected", False)
        return error(f"Cloudinary refused to {action}.", "store_rejected", False)
