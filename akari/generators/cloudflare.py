"""Cloudflare Workers AI text-to-image over requests: each model's wire format, one pooled session, bounded retries."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from akari import retries
from akari.config import DEFAULT_AI_GATEWAY_BASE, DEFAULT_CLOUDFLARE_API_BASE, FLUX_MODEL
from akari.errors import GenerationError
from akari.generators import GeneratedImage, ModelInputs
from akari.imaging import fit_within, inspect_image
from akari.models_catalog import ModelSpec, get_model

if TYPE_CHECKING:
    from akari.config import Settings

_ADMIN = "Ask your administrator to check CLOUDFLARE_ID and CLOUDFLARE_API_KEY."
MAX_RETRY_AFTER = 30.0
POOL_SIZE = 64
MIN_ATTEMPT_S = 0.5  # an attempt that could get less time than this before the deadline is not started

# Provider code -> (reason, retryable, the user's sentence).
ERRORS: dict[str, tuple[str, bool, str]] = {
    "10000": ("auth", False, "The server's Cloudflare credentials were refused. " + _ADMIN),
    "3023": ("account_blocked", False, "The Cloudflare account is blocked. Ask your administrator."),
    "3003": ("bad_request", False, "The image service said the request was incomplete: please report this bug."),
    "5006": ("invalid_input", False, "The image service could not use this input."),
    "3030": ("safety_filter", False,
             "The safety filter refused this prompt. Safety filters sometimes misfire: try rephrasing it."),
    "3006": ("prompt_too_large", False, "The request was too large for the image service. Shorten the prompt."),
    "3007": ("timeout", True, "The image service took too long. Please try again."),
    "3008": ("timeout", True, "The image service took too long. Please try again."),
    "3036": ("daily_allocation", False,
             "Today's image allowance on the Cloudflare account is used up. Try again after 00:00 UTC."),
    "3040": ("capacity", True, "The image service is busy right now. Please try again in a minute."),
    "5007": ("model_unavailable", False, "The image model is not available on this account. " + _ADMIN),
    "3042": ("model_unavailable", False, "The image model is not available on this account. " + _ADMIN),
}
#: Every documented provider code and the reason it maps to.
ERROR_CODES: dict[str, str] = {code: reason for code, (reason, _r, _m) in ERRORS.items()}
_TIMEOUT_MESSAGE = "The image service took too long to answer. Please try again."


class CloudflareGenerator:
    name = "cloudflare"
    model = FLUX_MODEL

    def __init__(
        self,
        account_id: str,
        api_token: str,
        *,
        api_base: str = DEFAULT_CLOUDFLARE_API_BASE,
        gateway_id: str | None = None,
        gateway_base: str = DEFAULT_AI_GATEWAY_BASE,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
        retry_read_timeouts: bool = False,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_id = account_id
        self._token = api_token
        self.api_base = api_base.rstrip("/")
        self.gateway_id = gateway_id
        self.gateway_base = gateway_base.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        # A read timeout may come after the image was made and billed: asking again could pay twice.
        self.retry_read_timeouts = retry_read_timeouts
        self.backoff = backoff
        self._sleep = sleep
        self.session = requests.Session()  # one pooled connection for every call
        self.session.headers.update({"Authorization": f"Bearer {api_token}", "User-Agent": "akari"})
        # Proxy settings from the environment, read once: requests would otherwise scan the environment (and
        # ~/.netrc) again on every call.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.url))
        self.session.trust_env = False
        # As many pooled connections as workers can call at once (requests keeps 10 per host by default).
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudflareGenerator:
        return cls(
            settings.cloudflare_account_id or "",
            settings.cloudflare_api_key or "",
            api_base=settings.cloudflare_api_base,
            gateway_id=settings.cloudflare_ai_gateway,
            gateway_base=settings.cloudflare_gateway_base,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
            retry_read_timeouts=settings.retry_read_timeouts,
        )

    @property
    def url(self) -> str:
        return self.url_for(self.model)

    def url_for(self, model: str) -> str:
        if self.gateway_id:
            return f"{self.gateway_base}/{self.account_id}/{self.gateway_id}/workers-ai/{model}"
        return f"{self.api_base}/accounts/{self.account_id}/ai/run/{model}"

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None,
                 inputs: ModelInputs | None = None) -> GeneratedImage:
        inputs = inputs or ModelInputs()
        spec = get_model(inputs.model or self.model)
        steps = spec.check_steps(steps)
        headers = {"cf-aig-metadata": json.dumps({"app": "akari"})} if self.gateway_id else {}
        fields, files = request_fields(spec, prompt, steps, seed, inputs)
        if spec.request_format == "multipart":  # every field as a form part, even a prompt alone
            body: dict[str, Any] = {"files": {**{k: (None, str(v)) for k, v in fields.items()},
                                              **{k: (f"{k}.png", v, "image/png") for k, v in files.items()}}}
        else:
            body = {"json": fields}
        url = self.url_for(spec.id)
        attempt = 0
        while True:
            attempt += 1
            timeout = self._timeout(deadline)
            try:
                response = self.session.post(url, headers=headers, timeout=timeout, **body)
                data, fmt, width, height = self._read(response, spec)
            except requests.RequestException as exc:
                error = _network_error(exc)
                if error.reason == "timeout" and not self.retry_read_timeouts:
                    error.retryable = False  # the provider may have made (and billed) the image already
                error.__cause__ = exc
            except GenerationError as exc:
                error = _naming_the_field(exc, spec, [*fields, *files])
            else:
                return GeneratedImage(data=data, format=fmt, width=width, height=height, seed=seed, steps=steps,
                                      model=spec.id, generator=self.name, meta=_meta(response, attempt))
            delay = self._delay(attempt, getattr(error, "retry_after", None))
            out_of_time = deadline is not None and time.monotonic() + delay + MIN_ATTEMPT_S >= deadline
            if not error.retryable or attempt > self.max_retries or out_of_time:
                if error.retryable and attempt > 1:
                    error.message = f"{error.message} (Tried {attempt} times.)"
                    error.args = (error.message,)
                raise self._redacted(error)
            retries.announce(attempt + 1, self.max_retries + 1, error)
            self._sleep(delay)

    def _timeout(self, deadline: float | None) -> tuple[float, float]:
        """The configured timeouts, cut short so that an attempt never runs past the generation's deadline."""
        if deadline is None:
            return self.timeout
        left = max(deadline - time.monotonic(), 0.1)
        return min(self.timeout[0], left), min(self.timeout[1], left)

    def _redacted(self, error: GenerationError) -> GenerationError:
        """Belt and braces: a provider or proxy that echoes the token must not put it in our logs."""
        if self._token and error.detail and self._token in error.detail:
            error.detail = error.detail.replace(self._token, "***")
        return error

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        return self.backoff * 2 ** (attempt - 1) * (1 + random.random() * 0.25)

    def _read(self, response: requests.Response, spec: ModelSpec) -> tuple[bytes, str, int, int]:
        """Decode a response into (bytes, format, width, height), or raise the matching GenerationError. Models that
        answer in raw bytes still send their errors in the JSON envelope."""
        if spec.response_format == "raw_bytes" and response.status_code == 200 \
                and not response.headers.get("Content-Type", "").startswith("application/json"):
            fmt, width, height = inspect_image(response.content)
            return response.content, fmt, width, height
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise self._status_error(response, "the response was not JSON")
        if response.status_code != 200 or not payload.get("success", False):
            raise self._provider_error(response, payload)
        result = payload.get("result")
        encoded = result.get("image") if isinstance(result, dict) else None
        if not isinstance(encoded, str) or not encoded:
            raise GenerationError("The image service answered without an image. Please try again.",
                                  detail=f"HTTP {response.status_code}: no result.image", reason="bad_response",
                                  retryable=True)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise GenerationError("The image service sent back a damaged image. Please try again.",
                                  detail="result.image is not valid base64", reason="bad_response",
                                  retryable=True) from exc
        fmt, width, height = inspect_image(data)
        return data, fmt, width, height

    def _provider_error(self, response: requests.Response, payload: dict[str, Any]) -> GenerationError:
        errors = payload.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code = str(first.get("code", "")).strip()
        message = str(first.get("message", ""))[:500]
        detail = f"HTTP {response.status_code}: {message}" + _ray(response)
        if code in ERRORS:
            reason, retryable, sentence = ERRORS[code]
            if code == "5006" and message:
                sentence = f"{sentence} The service said: \"{message.removeprefix('AiError: ')}\"."
            error = GenerationError(sentence, code=code, detail=detail, reason=reason, retryable=retryable)
        elif response.status_code in (401, 403):
            error = GenerationError(ERRORS["10000"][2], code=code or None, detail=detail, reason="auth")
        else:
            error = self._status_error(response, message or "unknown error", code=code or None)
        error.retry_after = _retry_after(response)  # type: ignore[attr-defined]
        return error

    def _status_error(self, response: requests.Response, what: str, code: str | None = None) -> GenerationError:
        status = response.status_code
        detail = f"HTTP {status}: {what}" + _ray(response)
        if status == 429:
            error = GenerationError(ERRORS["3040"][2], code=code, detail=detail, reason="capacity", retryable=True)
        elif status == 408:
            error = GenerationError(_TIMEOUT_MESSAGE, code=code, detail=detail, reason="timeout", retryable=True)
        elif status >= 500:
            error = GenerationError("The image service had a problem on its side. Please try again in a moment.",
                                    code=code, detail=detail, reason="provider_error", retryable=True)
        elif status in (401, 403):
            error = GenerationError(ERRORS["10000"][2], code=code, detail=detail, reason="auth")
        elif status == 200:
            error = GenerationError("The image service sent back an unreadable answer. Please try again.",
                                    code=code, detail=detail, reason="bad_response", retryable=True)
        else:
            error = GenerationError("The image service refused the request. Please try again later.",
                                    code=code, detail=detail, reason="provider_error")
        error.retry_after = _retry_after(response)  # type: ignore[attr-defined]
        return error

    def check(self, model: str | None = None) -> str:
        """The credentials and one model (the default one unless named) in one cheap call."""
        spec = get_model(model or self.model)
        url = f"{self.api_base}/accounts/{self.account_id}/ai/models/search"
        try:
            response = self.session.get(url, params={"search": spec.id.rsplit("/", 1)[-1], "per_page": 5},
                                        timeout=(self.timeout[0], min(self.timeout[1], 15.0)))
        except requests.RequestException as exc:
            raise self._redacted(_network_error(exc)) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("success"):
            found = [m.get("name") for m in payload.get("result") or [] if isinstance(m, dict)]
            if spec.id not in found:
                raise GenerationError(f"{spec.label} is not available on this Cloudflare account.",
                                      detail=f"models/search did not list {spec.id}", reason="model_unavailable")
            return f"Connected: Workers AI account {self.account_id[:6]}…, model {spec.id}"
        if isinstance(payload, dict):
            raise self._redacted(self._provider_error(response, payload))
        raise self._redacted(self._status_error(response, "the response was not JSON"))

    def close(self) -> None:
        self.session.close()


def request_fields(spec: ModelSpec, prompt: str, steps: int, seed: int,
                   inputs: ModelInputs) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The fields and files this model is sent: only the inputs it accepts, under its own names."""
    fields: dict[str, Any] = {"prompt": prompt}
    if spec.steps is not None:
        fields[spec.steps_field] = steps
    if spec.seed:
        fields["seed"] = seed
    if spec.takes_size and inputs.width and inputs.height:
        fields["width"], fields["height"] = inputs.width, inputs.height
    if spec.guidance is not None and inputs.guidance is not None:
        fields["guidance"] = inputs.guidance
    if spec.negative_prompt and inputs.negative_prompt:
        fields["negative_prompt"] = inputs.negative_prompt
    files: dict[str, bytes] = {}
    references = inputs.references[: spec.reference_images]
    if references and spec.request_format == "multipart":
        for index, reference in enumerate(references):
            files[f"input_image_{index}"] = fit_within(reference, spec.reference_max_side or 512)
    elif references:
        shrunk = fit_within(references[0], spec.reference_max_side or 2048)
        fields["image_b64"] = base64.b64encode(shrunk).decode()
    return fields, files


def _naming_the_field(error: GenerationError, spec: ModelSpec, sent: list[str]) -> GenerationError:
    """A bad-input error that names a field we sent (one the provider stopped accepting, a value out of its range)
    says so in words, for the user and the admin."""
    if error.code != "5006":
        return error
    sent = [name for name in sent if name != "prompt"]  # the prompt is the user's own words, never our mistake
    said = (error.detail or "").split(": ", 1)[-1]
    for name in sorted(sent, key=len, reverse=True):
        if re.search(rf"(?<![\w-])['\"/]?{re.escape(name)}(?![\w-])", said):
            quoted = said.removeprefix("AiError: ").split(" (cf-ray")[0]
            error.message = (f"{spec.label} refused the \"{name}\" input Akari sent it (the service said: "
                             f"\"{quoted}\"). Your administrator can see this on the admin page.")
            error.args = (error.message,)
            error.reason = "rejected_field"
            error.field = name  # type: ignore[attr-defined]
            return error
    return error


def _meta(response: requests.Response, attempts: int) -> dict[str, str]:
    meta = {"attempts": str(attempts)}
    for header, key in (("cf-aig-cache-status", "cache_status"), ("cf-ray", "ray")):
        if response.headers.get(header):
            meta[key] = response.headers[header]
    return meta


def _network_error(exc: requests.RequestException) -> GenerationError:
    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
        return GenerationError(_TIMEOUT_MESSAGE, detail=detail, reason="timeout", retryable=True)
    return GenerationError("The image service could not be reached. Check the server's network and try again.",
                           detail=detail, reason="network", retryable=True)


def _ray(response: requests.Response) -> str:
    ray = response.headers.get("cf-ray")
    return f" (cf-ray {ray})" if ray else ""


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None
