"""A local fake of Cloudflare Workers AI that speaks each text-to-image model's wire format, with knobs for faults."""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.workers_ai_models import FAKE_MODELS, BadInput, answer, read_multipart, render

FLUX = "@cf/black-forest-labs/flux-1-schnell"
_RUN = re.compile(r"^/client/v4/accounts/(?P<account>[^/]+)/ai/run/(?P<model>.+)$")
_GATEWAY = re.compile(r"^/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/workers-ai/(?P<model>.+)$")
_SEARCH = re.compile(r"^/client/v4/accounts/(?P<account>[^/]+)/ai/models/search$")
# The HTTP status each documented error code comes with, so `fail_next(3040)` looks like the real thing.
DOCUMENTED_STATUS = {"10000": 401, "3023": 403, "3003": 400, "5006": 400, "3030": 400, "3006": 413, "3007": 408,
                     "3008": 408, "3036": 429, "3040": 429, "5007": 400, "3042": 404}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    form: dict[str, Any] = field(default_factory=dict)  # multipart fields (FLUX.2)
    files: dict[str, bytes] = field(default_factory=dict)  # multipart uploads (FLUX.2 reference images)

    @property
    def model(self) -> str:
        return self.path.split("?", 1)[0].split("/ai/run/", 1)[-1].split("/workers-ai/", 1)[-1]

    @property
    def fields(self) -> dict[str, Any]:
        """What was sent, whichever the format."""
        return self.json if isinstance(self.json, dict) else {**self.form, **self.files}


@dataclass
class _Fault:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    passthrough: bool = False  # delay only, then answer normally


def _envelope_error(code: int | str, message: str) -> bytes:
    return json.dumps({"result": None, "success": False, "errors": [{"code": code, "message": message}],
                       "messages": []}).encode()


def render_jpeg(prompt: str, seed: int, size: int = 1024) -> bytes:
    """FLUX.1 [schnell]'s image for this prompt and seed: a gradient whose colours come from them."""
    return render(prompt, seed, size, size)


class FakeWorkersAI:
    """Run with `with FakeWorkersAI() as fake:`; point CLOUDFLARE_API_BASE at `fake.api_base`."""

    def __init__(self, account_id: str = "test-account", token: str = "test-token-not-real", port: int = 0,
                 latency: float = 0.0, image_size: int = 1024) -> None:
        self.account_id = account_id
        self.token = token
        self._port = port
        self.latency = latency  # every run takes at least this long, like the real service (about 1-3 s)
        self.image_size = image_size
        self.requests: list[ReceivedRequest] = []
        self._holds: dict[str, threading.Event] = {}
        self._stopping = threading.Event()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._images: dict[tuple[str, bytes], bytes] = {}  # FLUX.1 answers by body: rendering costs time
        self._refused: dict[str, set[str]] = {}
        self._hidden: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> FakeWorkersAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for event in list(self._holds.values()):
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeWorkersAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/client/v4"

    @property
    def gateway_base(self) -> str:
        return f"{self.base_url}/v1"

    def env(self) -> dict[str, str]:
        """The variables that point Akari at this fake."""
        return {"CLOUDFLARE_ID": self.account_id, "CLOUDFLARE_API_KEY": self.token,
                "CLOUDFLARE_API_BASE": self.api_base, "CLOUDFLARE_GATEWAY_BASE": self.gateway_base}

    # -- fault knobs ----------------------------------------------------------------------------------------
    def fail_next(self, code: int | str, status: int | None = None, message: str | None = None, times: int = 1,
                  retry_after: float | None = None) -> None:
        """The next `times` runs answer with this provider error code (and its documented status by default)."""
        status = status if status is not None else DOCUMENTED_STATUS.get(str(code), 400)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = _envelope_error(code, message or f"AiError: fake error {code}")
        self._push(_Fault(status=status, body=body, headers=headers), times)

    def respond_raw(self, status: int, body: str | bytes, content_type: str = "text/html", times: int = 1) -> None:
        self._push(_Fault(status=status, body=body.encode() if isinstance(body, str) else body,
                          content_type=content_type), times)

    def success_false_next(self, code: int | str | None = None, message: str = "", times: int = 1) -> None:
        """The next runs answer HTTP 200 with `success: false` (and no error at all when `code` is None)."""
        errors = [] if code is None else [{"code": code, "message": message}]
        body = json.dumps({"result": None, "success": False, "errors": errors, "messages": []}).encode()
        self._push(_Fault(status=200, body=body), times)

    def bad_base64_next(self, times: int = 1) -> None:
        body = json.dumps({"result": {"image": "!!not base64!!"}, "success": True, "errors": []}).encode()
        self._push(_Fault(status=200, body=body), times)

    def not_an_image_next(self, times: int = 1) -> None:
        encoded = base64.b64encode(b"this is plain text, not a picture").decode()
        body = json.dumps({"result": {"image": encoded}, "success": True, "errors": []}).encode()
        self._push(_Fault(status=200, body=body), times)

    def refuse_field(self, model: str, name: str) -> None:
        """From now on `model` refuses requests that send `name` (a field the provider stopped accepting)."""
        with self._lock:
            self._refused.setdefault(model, set()).add(name)

    def hide_model(self, model: str) -> None:
        """The account no longer lists `model` (the connection check must say so)."""
        with self._lock:
            self._hidden.add(model)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next runs wait this long before answering normally (to trip client timeouts)."""
        self._push(_Fault(delay=seconds, passthrough=True), times)

    def hold(self, text: str) -> None:
        """Runs whose prompt contains `text` wait, mid-call, until `release(text)`: a request in flight."""
        with self._lock:
            self._holds[text] = threading.Event()

    def release(self, text: str) -> None:
        with self._lock:
            event = self._holds.pop(text, None)
        if event is not None:
            event.set()

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self._refused.clear()
            self._hidden.clear()

    def runs(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def _push(self, fault: _Fault, times: int) -> None:
        with self._lock:
            self._faults.extend(fault for _ in range(times))

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- behaviour ------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str, dict]:
        received = _received(method, path, headers, body)
        payload = received.fields
        with self._lock:
            self.requests.append(received)
        fault = self._take_fault() if method == "POST" else None
        if method == "POST":
            self._wait_if_held(payload)
        if fault is not None:
            time.sleep(fault.delay)
            if not fault.passthrough:
                return fault.status, fault.body, fault.content_type, fault.headers
        route = path.split("?", 1)[0]
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, _envelope_error(10000, "Authentication error"), "application/json", {}
        if method == "GET" and (match := _SEARCH.match(route)):
            return self._search(match["account"], path.partition("?")[2])
        match = _RUN.match(route) or _GATEWAY.match(route)
        if method != "POST" or match is None:
            return 404, _envelope_error(7000, "No route for that URI"), "application/json", {}
        if match["account"] != self.account_id:
            return 401, _envelope_error(10000, "Authentication error"), "application/json", {}
        model = FAKE_MODELS.get(match["model"])
        if model is None:
            return 400, _envelope_error(5007, f"No such model {match['model']}"), "application/json", {}
        extra = {"cf-aig-cache-status": "MISS"} if _GATEWAY.match(route) else {}
        return (*self._run(model, headers.get("content-type", ""), body), extra)

    def _wait_if_held(self, payload: Any) -> None:
        prompt = payload.get("prompt") if isinstance(payload, dict) else None
        with self._lock:
            held = [event for text, event in self._holds.items() if isinstance(prompt, str) and text in prompt]
        for event in held:
            event.wait(600)
        if self.latency:
            self._stopping.wait(self.latency)

    def _search(self, account: str, query: str) -> tuple[int, bytes, str, dict]:
        if account != self.account_id:
            return 401, _envelope_error(10000, "Authentication error"), "application/json", {}
        search = parse_qs(query).get("search", [""])[0]
        found = [name for name in FAKE_MODELS if search in name and name not in self._hidden]
        body = {"result": [{"name": name, "task": {"name": "Text-to-Image"}} for name in found], "success": True,
                "errors": []}
        return 200, json.dumps(body).encode(), "application/json", {}

    def _run(self, model: Any, content_type: str, body: bytes) -> tuple[int, bytes, str]:
        with self._lock:
            refused = set(self._refused.get(model.id, ()))
        key = (content_type, body)
        cached = self._images.get(key) if model.id == FLUX and not refused else None
        if cached is not None:
            return 200, cached, "application/json"
        try:
            reply, reply_type = answer(model, content_type, body, self.image_size, refused)
        except BadInput as exc:
            return 400, _envelope_error(5006, f"AiError: Bad input: Error: {exc}"), "application/json"
        if model.id == FLUX:
            with self._lock:
                self._images[key] = reply
        return 200, reply, reply_type


def _received(method: str, path: str, headers: dict[str, str], body: bytes) -> ReceivedRequest:
    content_type = headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form, files = read_multipart(content_type, body)
        except BadInput:
            form, files = {}, {}
        return ReceivedRequest(method, path, headers, None, form, files)
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    return ReceivedRequest(method, path, headers, payload)


def _handler_for(fake: FakeWorkersAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer("GET", b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer("POST", self.rfile.read(length))

        def _answer(self, method: str, body: bytes) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply, content_type, extra = fake.handle(method, self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("cf-ray", "fake0123456789-LHR")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Workers AI server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account", default="test-account")
    parser.add_argument("--token", default="test-token-not-real")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every run takes")
    parser.add_argument("--image-size", type=int, default=1024)
    args = parser.parse_args(argv)
    fake = FakeWorkersAI(args.account, args.token, args.port, latency=args.latency, image_size=args.image_size).start()
    for name, value in fake.env().items():
        print(f"{name}={value}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
