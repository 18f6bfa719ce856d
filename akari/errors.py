"""One error hierarchy: each error carries a sentence for the user and, apart, the detail for the log."""

from __future__ import annotations


class AkariError(Exception):
    """Base error. `message` is shown to users; `detail` and `code` are for logs and records only."""

    #: Short machine-readable reason, stored with failed generations and used in usage charts.
    reason: str = "error"
    #: Whether trying the same thing again later may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        code: str | None = None,
        reason: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.code = code
        if reason is not None:
            self.reason = reason
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message

    def log_line(self) -> str:
        """The message plus provider code and detail, for logs (never contains secrets)."""
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.detail:
            parts.append(f"detail={self.detail}")
        return " | ".join(parts)


class ConfigError(AkariError):
    """The settings are wrong; the message names the variable to set."""

    reason = "config"


class InvalidInput(AkariError):
    """The user's input is wrong; nothing was recorded or charged."""

    reason = "invalid_input"


class QuotaExceeded(AkariError):
    """The user's daily quota is used up; checked before any provider call."""

    reason = "quota"


class NeuronQuotaExceeded(QuotaExceeded):
    """The user's daily neuron quota cannot hold this request (a bigger model, size or more steps cost more)."""

    reason = "neuron_quota"


class NotFound(AkariError):
    """The thing asked for does not exist (or is not visible to this user)."""

    reason = "not_found"


class PermissionDenied(AkariError):
    """The user may not do this."""

    reason = "forbidden"


class GenerationError(AkariError):
    """The image generator failed. `reason` says why (safety_filter, capacity, auth, ...)."""

    reason = "generation_failed"


class StoreError(AkariError):
    """The image store failed to save or delete an image."""

    reason = "store_failed"
    retryable = True


class AuthError(AkariError):
    """Sign-in or account management refused an action."""

    reason = "auth"


class DatabaseUnavailable(AkariError):
    """The database could not be reached or written (down, full, read-only); nothing was changed."""

    reason = "database"
    retryable = True


class Cancelled(AkariError):
    """The generation was cancelled before it ran."""

    reason = "cancelled"


class Unauthenticated(AkariError):
    """No valid credentials: nobody signed in, or an unknown, revoked or expired token."""

    reason = "unauthenticated"


class RateLimited(AkariError):
    """Too many requests in a short time; `retry_after` says how many seconds to wait."""

    reason = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: int, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
