"""A local fake of the Cloudinary Upload, Admin (ping) and delivery APIs that the real SDK can talk to."""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # the free plan's image limit
STALE_AFTER_S = 3600
# Parameters Cloudinary leaves out of the signature (see the SDK's api_sign_request callers).
UNSIGNED_FIELDS = {"file", "api_key", "signature", "resource_type", "cloud_name"}
FORMAT_NAMES = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
OUTPUT_FORMATS = {
    "webp": ("WEBP", "image/webp"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
}


@dataclass
class ReceivedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    file_bytes: bytes | None = None  # the `file` field when it arrived as a multipart file part
    file_text: str | None = None  # the `file` field when it arrived as a text field (a data URI or URL)

    @property
    def file_as_bytes_part(self) -> bool:
        return self.file_bytes is not None


@dataclass
class StoredUpload:
    public_id: str
    data: bytes
    format: str
    width: int
    height: int
    version: int
    fields: dict[str, str]
    type: str = "upload"  # "authenticated": delivered only through a signed URL


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


class CloudinaryError(Exception):
    """An error reply in Cloudinary's JSON shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def expected_signature(fields: dict[str, str], api_secret: str) -> tuple[str, str]:
    """(signature, string to sign) computed the way Cloudinary checks an Upload API request."""
    pairs = sorted(f"{k}={v}".replace("&", "%26") for k, v in fields.items() if k not in UNSIGNED_FIELDS and v)
    to_sign = "&".join(pairs)
    return hashlib.sha1((to_sign + api_secret).encode()).hexdigest(), to_sign


def _header_param(header_value: str, param: str, header: str = "content-type") -> str | None:
    msg = Message()
    msg[header] = header_value
    value = msg.get_param(param, header=header)
    return value if isinstance(value, str) else None


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, data) for each part of a multipart/form-data body."""
    boundary = _header_param(content_type, "boundary")
    if not boundary:
        raise CloudinaryError(400, "Invalid multipart body: no boundary")
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value.strip()
        name = _header_param(disposition, "name", "content-disposition")
        if name:
            parts.append(
                (name, _header_param(disposition, "filename", "content-disposition"), data.removesuffix(b"\r\n"))
            )
    return parts


def _image_info(data: bytes) -> tuple[str, int, int]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return FORMAT_NAMES.get(img.format or "", (img.format or "bin").lower()), img.width, img.height
    except (UnidentifiedImageError, OSError) as exc:
        raise CloudinaryError(400, "Invalid image file") from exc


def _decode_data_uri(text: str) -> bytes:
    header, sep, payload = text.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise CloudinaryError(400, "Remote URLs are not supported by the fake; send bytes or a data URI")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise CloudinaryError(400, "Invalid data URI") from exc


def _render(data: bytes, transformation: str, extension: str | None) -> tuple[bytes, str]:
    """Apply a c_/w_/h_/f_/q_ transformation really, so thumbnail sizes can be measured."""
    options = dict(part.split("_", 1) for part in transformation.split(",") if "_" in part)
    fmt = options.get("f", extension or "auto")
    fmt = "webp" if fmt == "auto" else fmt  # every current browser accepts WebP
    pil_format, mime = OUTPUT_FORMATS.get(fmt, OUTPUT_FORMATS["jpg"])
    quality = 80 if options.get("q", "auto").startswith("auto") else int(options["q"])
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        width, height = int(options.get("w", img.width)), int(options.get("h", img.height))
        if options.get("c") == "fill":
            scale = max(width / img.width, height / img.height)
            img = img.resize((max(width, round(img.width * scale)), max(height, round(img.height * scale))))
            left, top = (img.width - width) // 2, (img.height - height) // 2
            img = img.crop((left, top, left + width, top + height))
        else:
            img.thumbnail((width, height))
        out = io.BytesIO()
        img.save(out, format=pil_format, quality=quality)
    return out.getvalue(), mime


class FakeCloudinary:
    """Serves /v1_1/{cloud}/image/upload|destroy, /v1_1/{cloud}/ping and /{cloud}/image/upload/... on 127.0.0.1."""

    def __init__(
        self,
        cloud_name: str = "akari-test",
        api_key: str = "123456789012345",
        api_secret: str = "fake-secret-do-not-log",
        port: int = 0,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        auth_token_key: str | None = None,
    ) -> None:
        self.cloud_name = cloud_name
        # With a key, authenticated assets need a live __cld_token__ (token-based authentication), as on an
        # account where it is enabled; without, the URL's signature.
        self.auth_token_key = auth_token_key
        self.api_key = api_key
        self.api_secret = api_secret
        self.max_image_bytes = max_image_bytes
        self.uploads: dict[str, StoredUpload] = {}
        self.requests: list[ReceivedRequest] = []
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: list[_Reply] = []
        self._delays: list[float] = []
        self._holds: dict[str, threading.Event] = {}
        self.latency = 0.0  # every upload takes at least this long
        self._last_version = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeCloudinary:
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-cloudinary", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        for event in list(self._holds.values()):
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # joins the handler threads
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FakeCloudinary:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Cloudinary server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def upload_prefix(self) -> str:
        return self.base_url

    @property
    def cloudinary_url(self) -> str:
        return f"cloudinary://{self.api_key}:{self.api_secret}@{self.cloud_name}?upload_prefix={self.base_url}"

    def env(self) -> dict[str, str]:
        """The variables that point Akari's uploads and its delivery URLs at this fake."""
        return {"CLOUDINARY_URL": self.cloudinary_url, "CLOUDINARY_DELIVERY_BASE": self.base_url}

    # -- fault knobs -----------------------------------------------------------------------------

    def fail_next(self, status: int, message: str, times: int = 1) -> None:
        """The next `times` API calls answer `status` with Cloudinary's JSON error body."""
        body = json.dumps({"error": {"message": message}}).encode()
        with self._lock:
            self._faults.extend(_Reply(status, body) for _ in range(times))

    def raw_next(self, status: int, body: str | bytes, content_type: str = "text/html") -> None:
        """The next API call answers exactly this body (e.g. a proxy's 502 HTML page)."""
        with self._lock:
            self._faults.append(_Reply(status, body.encode() if isinstance(body, str) else body, content_type))

    def delay_next(self, seconds: float) -> None:
        """The next API call waits this long before answering."""
        with self._lock:
            self._delays.append(seconds)

    def hold(self, text: str) -> None:
        """Uploads whose context (the prompt) contains `text` wait, in flight, until `release(text)`."""
        with self._lock:
            self._holds[text] = threading.Event()

    def release(self, text: str) -> None:
        with self._lock:
            event = self._holds.pop(text, None)
        if event is not None:
            event.set()

    def uploads_by_name(self) -> dict[str, int]:
        """How many upload requests each public_id received (a repeated upload counts again)."""
        counts: dict[str, int] = {}
        for request in self.api_requests("upload"):
            name = request.fields.get("public_id", "")
            counts[name] = counts.get(name, 0) + 1
        return counts

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self.requests.clear()
            self.uploads.clear()

    def api_requests(self, action: str) -> list[ReceivedRequest]:
        """Recorded calls to /v1_1/{cloud}/.../{action}."""
        return [r for r in self.requests if r.path.startswith("/v1_1/") and r.path.rstrip("/").endswith(f"/{action}")]

    def delivery_url(self, public_id: str) -> str:
        upload = self.uploads[public_id]
        return f"{self.base_url}/{self.cloud_name}/image/{upload.type}/v{upload.version}/{public_id}.{upload.format}"

    # -- request handling (called from handler threads) -------------------------------------------

    def _take_fault(self) -> tuple[float, _Reply | None]:
        with self._lock:
            delay = self._delays.pop(0) if self._delays else 0.0
            fault = self._faults.pop(0) if self._faults else None
        return delay, fault

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_version(self) -> int:
        with self._lock:
            self._last_version = max(int(time.time()), self._last_version + 1)
            return self._last_version

    def handle_api(self, request: ReceivedRequest, parts: list[tuple[str, str | None, bytes]]) -> _Reply:
        delay, fault = self._take_fault()
        if delay and self._stopping.wait(delay):
            return _Reply(503, b'{"error":{"message":"shutting down"}}')
        if fault is not None:
            return fault
        try:
            result = self._dispatch(request, parts)
        except CloudinaryError as exc:
            return _Reply(exc.status, json.dumps({"error": {"message": exc.message}}).encode())
        return _Reply(200, json.dumps(result).encode())

    def _dispatch(self, request: ReceivedRequest, parts: list[tuple[str, str | None, bytes]]) -> dict:
        segments = request.path.strip("/").split("/")
        if len(segments) < 3 or segments[1] != self.cloud_name:
            raise CloudinaryError(401, f"Invalid cloud_name {segments[1] if len(segments) > 1 else ''}")
        if segments[2:] == ["ping"] and request.method == "GET":
            self._check_basic_auth(request.headers.get("authorization", ""))
            return {"status": "ok"}
        if request.method != "POST" or len(segments) != 4 or segments[2] != "image":
            raise CloudinaryError(404, f"Unsupported endpoint {request.path}")
        self._read_fields(request, parts)
        self._check_signature(request.fields)
        if segments[3] == "upload":
            return self._upload(request)
        if segments[3] == "destroy":
            return self._destroy(request.fields)
        if segments[3] == "rename":
            return self._rename(request.fields)
        raise CloudinaryError(404, f"Unsupported action {segments[3]}")

    def _read_fields(self, request: ReceivedRequest, parts: list[tuple[str, str | None, bytes]]) -> None:
        lists: dict[str, list[str]] = {}
        for name, filename, data in parts:
            if name == "file" and filename is not None:
                request.file_bytes = data
            elif name.endswith("[]"):
                lists.setdefault(name[:-2], []).append(data.decode())
            else:
                request.fields[name] = data.decode()
        request.fields.update({k: ",".join(v) for k, v in lists.items()})
        request.file_text = request.fields.get("file")

    def _check_basic_auth(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        try:
            key, _, secret = base64.b64decode(token).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key, secret = "", ""
        if scheme.lower() != "basic" or key != self.api_key:
            raise CloudinaryError(401, f"Unknown API key {key}")
        if not secrets.compare_digest(secret, self.api_secret):
            raise CloudinaryError(401, "Invalid credentials")

    def _check_signature(self, fields: dict[str, str]) -> None:
        if fields.get("api_key") != self.api_key:
            raise CloudinaryError(401, f"Unknown API key {fields.get('api_key', '')}")
        signature, to_sign = expected_signature(fields, self.api_secret)
        if not secrets.compare_digest(fields.get("signature", ""), signature):
            raise CloudinaryError(
                401, f"Invalid Signature {fields.get('signature', '')}. String to sign - '{to_sign}'."
            )
        timestamp = int(fields.get("timestamp") or 0)
        if abs(time.time() - timestamp) > STALE_AFTER_S:
            raise CloudinaryError(400, f"Stale request - reported time is {timestamp} which is more than 1 hour ago")

    def _upload(self, request: ReceivedRequest) -> dict:
        with self._lock:
            held = [event for text, event in self._holds.items() if text in request.fields.get("context", "")]
        for event in held:
            event.wait(600)
        if self.latency:
            self._stopping.wait(self.latency)
        if self._stopping.is_set():
            raise CloudinaryError(503, "shutting down")
        if request.file_bytes is not None:
            data = request.file_bytes
        elif request.file_text:
            data = _decode_data_uri(request.file_text)
        else:
            raise CloudinaryError(400, "Missing required parameter - file")
        if len(data) > self.max_image_bytes:
            raise CloudinaryError(400, f"File size too large. Got {len(data)}. Maximum is {self.max_image_bytes}.")
        fmt, width, height = _image_info(data)
        fields = request.fields
        public_id = fields.get("public_id") or secrets.token_hex(10)
        if fields.get("folder"):
            public_id = f"{fields['folder'].strip('/')}/{public_id}"
        version = self._next_version()
        with self._lock:
            self.uploads[public_id] = StoredUpload(public_id, data, fmt, width, height, version, dict(fields),
                                                   fields.get("type") or "upload")
        url = f"{self.base_url}/{self.cloud_name}/image/{fields.get('type') or 'upload'}/v{version}/{public_id}.{fmt}"
        return {
            "asset_id": secrets.token_hex(16),
            "public_id": public_id,
            "version": version,
            "version_id": secrets.token_hex(16),
            "signature": secrets.token_hex(20),
            "width": width,
            "height": height,
            "format": fmt,
            "resource_type": "image",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tags": [t for t in fields.get("tags", "").split(",") if t],
            "bytes": len(data),
            "type": fields.get("type") or "upload",
            "etag": hashlib.md5(data).hexdigest(),
            "placeholder": False,
            "url": url,
            "secure_url": url,
            "folder": fields.get("folder", ""),
            "original_filename": "file",
        }

    def _destroy(self, fields: dict[str, str]) -> dict:
        with self._lock:
            upload = self.uploads.get(fields.get("public_id", ""))
            if upload is None or upload.type != (fields.get("type") or "upload"):
                return {"result": "not found"}
            del self.uploads[upload.public_id]
        return {"result": "ok"}

    def _rename(self, fields: dict[str, str]) -> dict:
        """Rename and/or change the delivery type (upload <-> authenticated), as the Upload API's rename does."""
        with self._lock:
            upload = self.uploads.get(fields.get("from_public_id", ""))
            if upload is None or upload.type != (fields.get("type") or "upload"):
                raise CloudinaryError(404, f"Resource not found - {fields.get('from_public_id', '')}")
            del self.uploads[upload.public_id]
            upload.public_id = fields.get("to_public_id") or upload.public_id
            upload.type = fields.get("to_type") or upload.type
            self.uploads[upload.public_id] = upload
        return {"public_id": upload.public_id, "type": upload.type, "version": upload.version}

    def _delivery_signature(self, to_sign: str) -> str:
        digest = hashlib.sha1((to_sign + self.api_secret).encode()).digest()
        return "s--" + base64.urlsafe_b64encode(digest)[:8].decode() + "--"

    def _token_valid(self, path: str, query: str) -> bool:
        assert self.auth_token_key is not None
        token = parse_qs(query).get("__cld_token__", [""])[0]
        parts = dict(p.split("=", 1) for p in token.split("~") if "=" in p)
        if not {"exp", "hmac"} <= parts.keys() or not parts["exp"].isdigit():
            return False
        signed = "~".join(f"{name}={parts[name]}" for name in ("ip", "st", "exp", "acl") if name in parts)
        # The signed URL is the path with every character of Cloudinary's unsafe set %-escaped, in lower case.
        escaped = re.sub(r'[ "#%&\'/:;<=>?@\[\\\]^`{|}~]', lambda m: "".join(f"%{b:02x}" for b in m.group(0).encode()),
                         path)
        to_sign = signed + f"~url={escaped}"
        expected = hmac.new(bytes.fromhex(self.auth_token_key), to_sign.encode(), hashlib.sha256).hexdigest()
        return secrets.compare_digest(parts["hmac"], expected) and int(parts["exp"]) > time.time()

    def handle_delivery(self, path: str, query: str = "") -> _Reply:
        """GET /{cloud}/image/{upload|authenticated}/[s--sig--/][transformation/][v123/]public_id[.ext]. An
        authenticated asset is served only with a valid signature, and only under its own type."""
        match = re.match(rf"^/{re.escape(self.cloud_name)}/image/(upload|authenticated)/(.*)$", path)
        if match is None:
            return _Reply(404, b"Resource not found", "text/plain")
        delivery_type, rest = match.groups()
        segments = rest.split("/")
        signature = segments.pop(0) if segments and re.fullmatch(r"s--[A-Za-z0-9_-]{8}--", segments[0]) else None
        transformation = ""
        if segments and re.fullmatch(r"[a-z]{1,3}_[^/]+", segments[0]) and len(segments) > 1:
            transformation = segments.pop(0)
        if segments and re.fullmatch(r"v\d+", segments[0]):
            segments.pop(0)
        source = "/".join(segments)
        if delivery_type == "authenticated" and self.auth_token_key is not None:
            if not self._token_valid(path, query):
                return _Reply(401, b"Unauthorized: missing, wrong or expired token", "text/plain")
        elif delivery_type == "authenticated":
            expected = self._delivery_signature("/".join(p for p in (transformation, source) if p))
            if signature is None or not secrets.compare_digest(signature, expected):
                return _Reply(401, b"Unauthorized: missing or wrong signature", "text/plain")
        public_id = source
        upload = self.uploads.get(public_id)
        extension = None
        if upload is None and "." in public_id:
            public_id, extension = public_id.rsplit(".", 1)
            upload = self.uploads.get(public_id)
        if upload is None or upload.type != delivery_type:
            return _Reply(404, b"Resource not found", "text/plain")
        if not transformation and extension in (None, upload.format):
            return _Reply(200, upload.data, OUTPUT_FORMATS.get(upload.format, ("", "image/jpeg"))[1])
        data, mime = _render(upload.data, transformation, extension)
        return _Reply(200, data, mime)


def _handler_for(fake: FakeCloudinary) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a silent client must not pin a handler thread at shutdown

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            path = unquote(split.path)
            request = ReceivedRequest("GET", path, headers={k.lower(): v for k, v in self.headers.items()})
            fake._record(request)
            reply = (fake.handle_api(request, []) if path.startswith("/v1_1/")
                     else fake.handle_delivery(path, split.query))
            self._send(reply)

        def do_POST(self) -> None:
            path = unquote(urlsplit(self.path).path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = ReceivedRequest("POST", path, headers={k.lower(): v for k, v in self.headers.items()})
            fake._record(request)
            try:
                parts = parse_multipart(body, self.headers.get("Content-Type", ""))
            except CloudinaryError as exc:
                self._send(_Reply(exc.status, json.dumps({"error": {"message": exc.message}}).encode()))
                return
            self._send(fake.handle_api(request, parts))

        def _send(self, reply: _Reply) -> None:
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("X-Request-Id", secrets.token_hex(8))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired); nothing to tell it

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Cloudinary API for browser tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cloud", default="akari-test")
    parser.add_argument("--key", default="123456789012345")
    parser.add_argument("--secret", default="fake-secret-do-not-log")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with FakeCloudinary(args.cloud, args.key, args.secret, port=args.port) as fake:
        for name, value in fake.env().items():
            print(f"{name}={value}", flush=True)
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass


if __name__ == "__main__":
    main()
