"""The offline renderer: deterministic, network-free sketches derived from the prompt, labelled as such."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from akari.errors import InvalidInput
from akari.generators import GeneratedImage

SIZE = 1024
_WORK = 512  # drawn at half size and scaled up: soft shapes lose nothing and it is four times faster
LABEL = "Offline sketch (not AI)"

# Words that set the palette: (hue 0-1, saturation, value).
_COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (0.0, 0.75, 0.85), "crimson": (0.97, 0.8, 0.7), "orange": (0.07, 0.8, 0.95),
    "gold": (0.12, 0.7, 0.95), "golden": (0.12, 0.7, 0.95), "yellow": (0.15, 0.7, 0.95),
    "green": (0.33, 0.6, 0.7), "forest": (0.3, 0.6, 0.45), "teal": (0.48, 0.65, 0.7),
    "ocean": (0.55, 0.7, 0.7), "sea": (0.55, 0.65, 0.75), "blue": (0.6, 0.7, 0.8),
    "purple": (0.76, 0.6, 0.75), "violet": (0.78, 0.55, 0.8), "nebula": (0.8, 0.65, 0.7),
    "pink": (0.92, 0.45, 0.95), "neon": (0.88, 0.9, 1.0), "sunset": (0.04, 0.75, 0.95),
    "night": (0.65, 0.6, 0.35), "black": (0.65, 0.2, 0.15), "white": (0.6, 0.05, 0.95),
    "snow": (0.58, 0.08, 0.95), "desert": (0.09, 0.5, 0.85), "fire": (0.03, 0.9, 0.95),
}
_SCENES: dict[str, tuple[str, ...]] = {
    "space": ("nebula", "space", "stars", "galaxy", "cosmic", "star", "universe", "planet"),
    "landscape": ("mountain", "mountains", "landscape", "hills", "valley", "desert", "forest", "sunset", "sunrise"),
    "sea": ("ocean", "sea", "wave", "waves", "beach", "lake", "river", "water"),
    "city": ("city", "skyline", "street", "cyberpunk", "town", "buildings", "tokyo"),
    "subject": ("portrait", "cat", "dog", "face", "person", "fox", "bird", "owl", "robot", "woman", "man"),
}


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return round(r * 255), round(g * 255), round(b * 255)


def _words(prompt: str) -> list[str]:
    return ["".join(ch for ch in w.lower() if ch.isalnum()) for w in prompt.split()]


def _scene(words: list[str]) -> str:
    for scene, keys in _SCENES.items():
        if any(w in keys for w in words):
            return scene
    return "abstract"


def _palette(words: list[str], rng: random.Random, digest: bytes) -> list[tuple[int, int, int]]:
    named = [_COLOUR_WORDS[w] for w in words if w in _COLOUR_WORDS]
    base_h, base_s, base_v = named[0] if named else (digest[0] / 255, 0.55 + digest[1] / 1000, 0.8)
    second_h = named[1][0] if len(named) > 1 else base_h + rng.choice((0.08, -0.08, 0.5, 0.33))
    return [
        _hsv(base_h + 0.02, base_s * 0.9, base_v * 0.25),  # deep background
        _hsv(base_h, base_s, base_v * 0.7),
        _hsv(second_h, base_s * 0.85, min(1.0, base_v * 1.05)),
        _hsv(base_h - 0.05, base_s * 0.5, 1.0),  # highlight
        _hsv(second_h + 0.04, base_s * 0.7, base_v * 0.45),
    ]


def _vertical_gradient(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, _WORK, dtype=np.float32)[:, None, None]
    rows = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return Image.fromarray(np.broadcast_to(rows, (_WORK, _WORK, 3)).astype(np.uint8), "RGB")


def _glow(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], count: int, blur: int) -> None:
    layer = Image.new("RGB", img.size, (0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        x, y = rng.uniform(0.1, 0.9) * _WORK, rng.uniform(0.1, 0.9) * _WORK
        r = rng.uniform(0.08, 0.3) * _WORK
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(colours))
    layer = layer.filter(ImageFilter.GaussianBlur(blur))
    merged = np.clip(np.asarray(img, np.float32) + np.asarray(layer, np.float32) * 0.75, 0, 255)
    img.paste(Image.fromarray(merged.astype(np.uint8), "RGB"))


def _stars(img: Image.Image, rng: random.Random, count: int) -> None:
    draw = ImageDraw.Draw(img)
    for _ in range(count):
        x, y = rng.uniform(0, _WORK), rng.uniform(0, _WORK)
        level = rng.randint(150, 255)
        size = rng.choice((0.5, 0.5, 0.8, 1.2))
        draw.ellipse((x - size, y - size, x + size, y + size), fill=(level, level, min(255, level + 20)))


def _ridges(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], layers: int) -> None:
    draw = ImageDraw.Draw(img)
    for i in range(layers):
        depth = i / max(1, layers - 1)
        base = _WORK * (0.45 + 0.4 * depth)
        amplitude = _WORK * (0.12 - 0.06 * depth)
        phase, freq = rng.uniform(0, 6.28), rng.uniform(1.5, 3.5)
        xs = np.linspace(0, _WORK, 64)
        ys = base - amplitude * (np.sin(xs / _WORK * freq * 3.14 + phase) + 0.4 * np.sin(xs / _WORK * 9 + phase * 2))
        shade = tuple(int(c * (0.35 + 0.4 * (1 - depth))) for c in colours[1])
        draw.polygon([(0, _WORK), *zip(xs.tolist(), ys.tolist(), strict=True), (_WORK, _WORK)], fill=shade)


def _waves(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], layers: int) -> None:
    draw = ImageDraw.Draw(img)
    for i in range(layers):
        depth = i / max(1, layers - 1)
        base = _WORK * (0.55 + 0.42 * depth)
        xs = np.linspace(0, _WORK, 96)
        phase = rng.uniform(0, 6.28)
        ys = base + _WORK * 0.02 * np.sin(xs / _WORK * (6 + 6 * depth) + phase)
        colour = tuple(int(a * (1 - depth) + b * depth) for a, b in zip(colours[1], colours[0], strict=True))
        draw.polygon([(0, _WORK), *zip(xs.tolist(), ys.tolist(), strict=True), (_WORK, _WORK)], fill=colour)


def _skyline(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], layers: int) -> None:
    draw = ImageDraw.Draw(img)
    for i in range(min(layers, 3)):
        depth = i / 2
        x = 0.0
        shade = tuple(int(c * (0.2 + 0.25 * (1 - depth))) for c in colours[1])
        while x < _WORK:
            width = rng.uniform(0.04, 0.1) * _WORK
            top = _WORK * (0.35 + 0.3 * depth + rng.uniform(-0.08, 0.12))
            draw.rectangle((x, top, x + width, _WORK), fill=shade)
            for wy in np.arange(top + 6, _WORK - 4, 9):
                for wx in np.arange(x + 3, x + width - 3, 7):
                    if rng.random() < 0.3:
                        draw.rectangle((wx, wy, wx + 2, wy + 3), fill=colours[3])
            x += width + rng.uniform(0, 4)


def _subject(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]]) -> None:
    layer = Image.new("RGB", img.size, (0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy, r = _WORK / 2, _WORK * 0.52, _WORK * 0.24
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colours[2])
    draw.ellipse((cx - r * 0.55, cy - r * 0.8, cx + r * 0.35, cy + r * 0.1), fill=colours[3])
    layer = layer.filter(ImageFilter.GaussianBlur(_WORK * 0.04))
    merged = np.clip(np.asarray(img, np.float32) * 0.7 + np.asarray(layer, np.float32) * 0.8, 0, 255)
    img.paste(Image.fromarray(merged.astype(np.uint8), "RGB"))


def _flow(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], count: int) -> None:
    layer = Image.new("RGB", img.size, (0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        phase, amp, y0 = rng.uniform(0, 6.28), rng.uniform(0.05, 0.2) * _WORK, rng.uniform(0.1, 0.9) * _WORK
        xs = np.linspace(-10, _WORK + 10, 80)
        ys = y0 + amp * np.sin(xs / _WORK * rng.uniform(2, 6) + phase)
        draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=rng.choice(colours[2:]),
                  width=rng.randint(2, 10))
    layer = layer.filter(ImageFilter.GaussianBlur(3))
    merged = np.clip(np.asarray(img, np.float32) + np.asarray(layer, np.float32) * 0.6, 0, 255)
    img.paste(Image.fromarray(merged.astype(np.uint8), "RGB"))


def _grain_and_vignette(img: Image.Image, rng: random.Random, steps: int) -> Image.Image:
    arr = np.asarray(img, np.float32)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE - 0.5
    vignette = 1.0 - 0.55 * (xx * xx + yy * yy)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 2.0 + steps * 0.6, (SIZE, SIZE, 1))
    return Image.fromarray(np.clip(arr * vignette[..., None] + noise, 0, 255).astype(np.uint8), "RGB")


def _label(img: Image.Image, seed: int) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    font = ImageFont.load_default(size=22)
    text = f"OFFLINE SKETCH · seed {seed}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad, margin = 10, 24
    box = (margin, SIZE - margin - (bottom - top) - 2 * pad, margin + (right - left) + 2 * pad, SIZE - margin)
    draw.rounded_rectangle(box, radius=10, fill=(0, 0, 0, 140))
    draw.text((box[0] + pad - left, box[1] + pad - top), text, font=font, fill=(255, 255, 255, 230))


class OfflineGenerator:
    """Draws a sketch from the prompt's words: same prompt, steps and seed give the same bytes."""

    name = "offline"
    model = "akari-offline-sketch-v1"

    def generate(self, prompt: str, *, steps: int, seed: int) -> GeneratedImage:
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 8:
            raise InvalidInput(f"Steps must be a whole number from 1 to 8 (you gave {steps!r}).")
        digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{steps}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        words = _words(prompt)
        palette = _palette(words, rng, hashlib.sha256(prompt.lower().encode()).digest())
        scene = _scene(words)

        img = _vertical_gradient(palette[0], palette[4] if scene != "landscape" else palette[2])
        _glow(img, rng, palette[1:4], count=3 + steps, blur=int(_WORK * 0.09))
        if scene == "space":
            _stars(img, rng, 120 + 40 * steps)
            _glow(img, rng, palette[2:4], count=2, blur=int(_WORK * 0.05))
        elif scene == "landscape":
            _ridges(img, rng, palette, layers=2 + steps // 2)
        elif scene == "sea":
            _waves(img, rng, palette, layers=3 + steps // 2)
        elif scene == "city":
            _stars(img, rng, 60)
            _skyline(img, rng, palette, layers=1 + steps // 3)
        elif scene == "subject":
            _subject(img, rng, palette)
        else:
            _flow(img, rng, palette, count=4 + steps * 2)

        img = img.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        img = _grain_and_vignette(img, rng, steps)
        _label(img, seed)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=88, optimize=False)
        return GeneratedImage(
            data=out.getvalue(), format="jpeg", width=SIZE, height=SIZE, seed=seed, steps=steps,
            model=self.model, generator=self.name, meta={"label": LABEL, "scene": scene},
        )

    def check(self) -> str:
        return "Offline renderer ready"
