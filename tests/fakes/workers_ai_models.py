"""Each Workers AI text-to-image model as the fake speaks it: how it reads a request, its checks, how it answers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from PIL import Image, ImageDraw

# A request as a model sees it: form or JSON fields, and uploaded files (multipart only).
Fields = dict[str, Any]
Files = dict[str, bytes]


class BadInput(Exception):
    """The model's own validation message (sent as error 5006)."""


def render(prompt: str, seed: int, width: int, height: int, fmt: str = "JPEG", tint: tuple[int, ...] | None = None,
           ) -> bytes:
    """A cheap, real image: a gradient whose colours come from the prompt and seed (or a reference's tint)."""
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    small = Image.new("RGB", (2, 2))
    small.putdata([tuple(digest[i : i + 3]) for i in (0, 3, 6, 9)])  # type: ignore[misc]
    image = small.resize((width, height), Image.Resampling.BILINEAR)
    box = (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    ImageDraw.Draw(image).ellipse(box, fill=tint or tuple(digest[12:15]))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return out.getvalue()


def _mean_colour(data: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[return-value]


def _json_fields(content_type: str, body: bytes) -> tuple[Fields, Files]:
    if not content_type.startswith("application/json"):
        raise BadInput("Type mismatch: the body must be JSON")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadInput("oneOf at '/' not met") from exc
    if not isinstance(payload, dict):
        raise BadInput("oneOf at '/' not met")
    return payload, {}


def read_multipart(content_type: str, body: bytes) -> tuple[Fields, Files]:
    if not content_type.startswith("multipart/form-data"):
        raise BadInput("this model requires multipart/form-data input")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: Fields = {}
    files: Files = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename():
            files[str(name)] = data
        else:
            fields[str(name)] = data.decode()
    return fields, files


def _unknown(fields: Fields, allowed: set[str], style: str) -> None:
    for name in fields:
        if name not in allowed:
            raise BadInput(f"must NOT have additional properties '{name}'" if style == "schema"
                           else f"unexpected field '{name}'")


def _int(fields: Fields, name: str, default: int, low: int, high: int, *, form: bool = False) -> int:
    value = fields.get(name, default)
    if form and isinstance(value, str):
        try:
            value = int(value)
        except ValueError as exc:
            raise BadInput(f"'{name}' must be an integer") from exc
    where = f"'{name}'" if form else f"/{name}"  # FLUX.2 names form fields; the JSON models a schema path
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{where} must be integer")
    if not low <= value <= high:
        raise BadInput(f"{where} must be >= {low} and <= {high}")
    return value


def _number(fields: Fields, name: str, low: float, high: float, *, form: bool = False) -> None:
    if name not in fields:
        return
    value = fields[name]
    if form and isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise BadInput(f"'{name}' must be a number") from exc
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadInput(f"/{name} must be a number >= {low} and <= {high}")


def _prompt(fields: Fields) -> str:
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2048:
        raise BadInput("/prompt must be a string of 1 to 2048 characters")
    return prompt


@dataclass(frozen=True)
class FakeModel:
    """How one model reads a request, checks it and answers: `run` returns (body, content type)."""

    id: str
    read: Callable[[str, bytes], tuple[Fields, Files]]
    run: Callable[[Fields, Files, int], tuple[bytes, str]]  # (fields, files, default size) -> answer
    fields: frozenset[str]  # what it accepts (the others are refused, naming the field)


def _base64_answer(image: bytes) -> tuple[bytes, str]:
    body = {"result": {"image": base64.b64encode(image).decode()}, "success": True, "errors": [], "messages": []}
    return json.dumps(body).encode(), "application/json"


def _schnell(fields: Fields, files: Files, size: int) -> tuple[bytes, str]:
    prompt = _prompt(fields)
    _int(fields, "steps", 4, 1, 8)
    seed = _int(fields, "seed", 0, 0, 2**32 - 1)
    return _base64_answer(render(prompt, seed, size, size))


def _klein(fields: Fields, files: Files, size: int) -> tuple[bytes, str]:
    prompt = _prompt(fields)
    width = _int(fields, "width", 1024, 256, 1920, form=True)
    height = _int(fields, "height", 768, 256, 1920, form=True)
    seed = _int(fields, "seed", 0, 0, 2**32 - 1, form=True)
    _number(fields, "guidance", 0, 20, form=True)
    tint = None
    for name, data in files.items():
        if name not in {f"input_image_{i}" for i in range(4)}:
            raise BadInput(f"unexpected field '{name}'")
        try:
            with Image.open(io.BytesIO(data)) as reference:
                too_big = reference.width > 512 or reference.height > 512
        except OSError as exc:
            raise BadInput(f"'{name}' is not an image") from exc
        if too_big:
            raise BadInput(f"'{name}' must be at most 512x512")
        tint = tint or _mean_colour(data)
    return _base64_answer(render(prompt, seed, width, height, tint=tint))


def _phoenix(fields: Fields, files: Files, size: int) -> tuple[bytes, str]:
    prompt = _prompt(fields)
    width = _int(fields, "width", 1024, 0, 2048)
    height = _int(fields, "height", 1024, 0, 2048)
    _int(fields, "num_steps", 25, 1, 50)
    seed = _int(fields, "seed", 0, 0, 2**32 - 1)
    _number(fields, "guidance", 2, 10)
    if not isinstance(fields.get("negative_prompt", ""), str):
        raise BadInput("/negative_prompt must be string")
    return render(prompt, seed, width, height), "image/jpeg"


def _sdxl_lightning(fields: Fields, files: Files, size: int) -> tuple[bytes, str]:
    prompt = _prompt(fields)
    width = _int(fields, "width", 1024, 256, 2048)
    height = _int(fields, "height", 1024, 256, 2048)
    _int(fields, "num_steps", 20, 1, 20)
    seed = _int(fields, "seed", 0, 0, 2**32 - 1)
    _number(fields, "guidance", 0, 30)
    _number(fields, "strength", 0, 1)
    tint = None
    if "image_b64" in fields:
        try:
            tint = _mean_colour(base64.b64decode(fields["image_b64"], validate=True))
        except (ValueError, OSError) as exc:
            raise BadInput("/image_b64 is not a base64 image") from exc
    return render(prompt, seed, width, height, fmt="PNG", tint=tint), "image/png"


FAKE_MODELS: dict[str, FakeModel] = {model.id: model for model in (
    FakeModel("@cf/black-forest-labs/flux-1-schnell", _json_fields, _schnell,
              frozenset({"prompt", "steps", "seed"})),
    FakeModel("@cf/black-forest-labs/flux-2-klein-4b", read_multipart, _klein,
              frozenset({"prompt", "width", "height", "seed", "guidance",
                         *(f"input_image_{i}" for i in range(4))})),
    FakeModel("@cf/leonardo/phoenix-1.0", _json_fields, _phoenix,
              frozenset({"prompt", "guidance", "seed", "width", "height", "num_steps", "negative_prompt"})),
    FakeModel("@cf/bytedance/stable-diffusion-xl-lightning", _json_fields, _sdxl_lightning,
              frozenset({"prompt", "negative_prompt", "width", "height", "num_steps", "guidance", "seed", "image",
                         "image_b64", "mask", "strength"})),
)}


def answer(model: FakeModel, content_type: str, body: bytes, size: int, refused: set[str]) -> tuple[bytes, str]:
    """Read, check and run one request; BadInput carries the model's message. `refused`: fields this model
    stopped accepting (a knob of the fake)."""
    fields, files = model.read(content_type, body)
    _unknown({**fields, **files}, set(model.fields) - refused, "schema")
    return model.run(fields, files, size)
