"""The offline renderer: deterministic, network-free sketches drawn from the prompt's words, labelled as not AI."""

from __future__ import annotations

import colorsys
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from akari.generators import GeneratedImage, ModelInputs
from akari.imaging import inspect_image
from akari.models_catalog import get_model
from akari.prompts import check_steps

SIZE = 1024
# Scenes are drawn at half size and enlarged: everything is soft, so nothing is lost and it is four times faster.
_WORK = 512
_AA = 1.2 / _WORK  # edge softness of analytic shapes: about one working pixel
JPEG_QUALITY = 88
LABEL = "Offline sketch (not AI)"

Canvas = np.ndarray  # (height, width, 3) float32 in 0..1
Mask = np.ndarray  # (height, width) float32 in 0..1
Colour = np.ndarray  # (3,) float32 in 0..1

# fmt: off
# Words that set the palette: (hue, saturation, value), hue and the rest in 0..1.
_COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (0.99, 0.75, 0.85), "crimson": (0.97, 0.8, 0.7), "scarlet": (0.0, 0.85, 0.9),
    "orange": (0.07, 0.8, 0.95), "amber": (0.09, 0.85, 0.95), "sunset": (0.05, 0.75, 0.95),
    "sunrise": (0.08, 0.6, 0.98), "fire": (0.03, 0.9, 0.95), "gold": (0.12, 0.7, 0.95),
    "golden": (0.12, 0.7, 0.95), "yellow": (0.15, 0.7, 0.95), "desert": (0.09, 0.5, 0.85),
    "green": (0.33, 0.6, 0.7), "forest": (0.3, 0.6, 0.5), "emerald": (0.4, 0.7, 0.7), "teal": (0.48, 0.65, 0.7),
    "ocean": (0.55, 0.7, 0.75), "sea": (0.54, 0.65, 0.75), "blue": (0.6, 0.7, 0.85), "sky": (0.57, 0.45, 0.95),
    "ice": (0.53, 0.3, 0.95), "snow": (0.58, 0.1, 0.95), "purple": (0.77, 0.6, 0.8), "violet": (0.75, 0.55, 0.85),
    "lavender": (0.74, 0.3, 0.95), "nebula": (0.8, 0.65, 0.75), "magenta": (0.86, 0.8, 0.9),
    "pink": (0.93, 0.45, 0.95), "rose": (0.96, 0.45, 0.9), "neon": (0.88, 0.9, 1.0), "night": (0.64, 0.65, 0.45),
    "midnight": (0.66, 0.7, 0.35), "black": (0.65, 0.15, 0.2), "white": (0.6, 0.05, 0.95),
    "silver": (0.6, 0.08, 0.85), "grey": (0.6, 0.08, 0.6), "gray": (0.6, 0.08, 0.6),
}
# Scene words; a subject word wins over the others so "a cat at the beach" still shows the cat.
_SCENES: dict[str, frozenset[str]] = {
    "subject": frozenset({"portrait", "cat", "kitten", "dog", "puppy", "face", "person", "fox", "wolf", "owl",
                          "bird", "robot", "woman", "man", "girl", "boy", "king", "queen", "selfie", "character"}),
    "space": frozenset({"nebula", "space", "stars", "starry", "galaxy", "cosmic", "cosmos", "star", "universe",
                        "planet", "astronaut", "aurora"}),
    "landscape": frozenset({"mountain", "mountains", "landscape", "hills", "hill", "valley", "desert", "forest",
                            "canyon", "volcano", "meadow"}),
    "sea": frozenset({"ocean", "sea", "wave", "waves", "beach", "lake", "river", "water", "coast", "shore",
                      "island", "surf"}),
    "city": frozenset({"city", "skyline", "street", "cyberpunk", "town", "buildings", "tokyo", "metropolis",
                       "downtown", "skyscraper", "skyscrapers"}),
}
_EARED = frozenset({"cat", "kitten", "fox", "wolf"})
_PEOPLE = frozenset({"portrait", "face", "person", "woman", "man", "girl", "boy", "king", "queen", "selfie",
                     "character"})
_BRIGHT_WORDS = frozenset({"joy", "joyful", "happy", "bright", "sunny", "light", "pastel", "soft", "dream", "dreamy",
                           "spring", "summer", "cheerful", "playful", "calm"})
_DARK_WORDS = frozenset({"dark", "night", "gloomy", "moody", "noir", "shadow", "storm", "stormy", "midnight",
                         "gothic", "mysterious", "haunted"})
_GOLDEN_HOUR_WORDS = frozenset({"sunset", "sunrise", "dusk", "dawn", "golden", "gold", "fire", "amber"})
_STOPWORDS = frozenset({"a", "an", "the", "of", "at", "in", "on", "with", "and", "by", "to", "for", "over", "under",
                        "from", "into", "is", "my", "very", "some"})
# Hues a word's hash may pick: the whole wheel except the olive and yellow-green that read as murky.
_WORD_HUES = (0.0, 0.03, 0.07, 0.11, 0.38, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
# Hue offsets from the main colour to its partner that read as deliberate: analogous, triad, split, complement.
_HARMONIES = (0.09, -0.09, 0.33, -0.33, 0.42, 0.5, 0.58)
# fmt: on


@dataclass(frozen=True)
class Palette:
    hue: float  # of the main colour, 0..1
    saturation: float
    deep: Colour  # darkest tone: night sky, shadows
    base: Colour  # the prompt's main colour
    accent: Colour  # its partner colour
    glow: Colour  # bright tone of the partner colour: stars, lights, rims
    light: Colour  # bright tone of the main colour: suns, horizons
    shade: Colour  # dark tone of the partner colour: shadows that are not just black
    mist: Colour  # pale, desaturated tone for haze
    sunlight: Colour  # suns and glowing horizons: the warm word's colour when the prompt has one
    golden_hour: bool  # the prompt asks for a sunset, sunrise or similar


# ---- colour -------------------------------------------------------------------------------------------------------


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))


def _hsv(h: float, s: float, v: float) -> Colour:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, _unit(s), _unit(v)), np.float32)


def _cooler(hue: float, amount: float) -> float:
    """Move a hue toward blue-violet, the way shadows look: dark yellows turn brown-red, not olive."""
    return hue + (((0.7 - hue + 0.5) % 1.0) - 0.5) * amount


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return a + (b - a) * t


def _word_byte(word: str, index: int = 0) -> int:
    # hashlib, not hash(): Python salts str hashes per process, and the same prompt must give the same picture.
    return hashlib.sha256(word.encode()).digest()[index]


def _words(prompt: str) -> list[str]:
    cleaned = ("".join(ch for ch in word.lower() if ch.isalnum()) for word in prompt.split())
    return [word for word in cleaned if word]


def _palette(words: list[str]) -> Palette:
    """Main and partner colours from colour words, else from the hash of the first words; mood words set the light."""
    named = [_COLOUR_WORDS[w] for w in words if w in _COLOUR_WORDS]
    content = [w for w in words if w not in _STOPWORDS] or [""]
    if named:
        h1, s1, v1 = named[0]
    else:
        h1 = _WORD_HUES[_word_byte(content[0]) % len(_WORD_HUES)]
        s1, v1 = 0.55 + _word_byte(content[0], 1) / 1280, 0.9
    if len(named) > 1 and min(abs(named[1][0] - h1), 1 - abs(named[1][0] - h1)) > 0.08:
        h2, s2, v2 = named[1]
    else:
        h2 = (h1 + _HARMONIES[_word_byte(" ".join(content)) % len(_HARMONIES)]) % 1.0
        s2, v2 = max(s1, 0.55), 0.95
        if 0.16 <= h2 <= 0.34:  # olive and yellow-green turn muddy in dim light; lean to teal instead
            h2 += 0.25
    mood = max(-1, min(1, sum(w in _BRIGHT_WORDS for w in words) - sum(w in _DARK_WORDS for w in words)))
    depth, v1 = 0.11 + 0.07 * mood, v1 * (1 + 0.12 * mood)
    light = _hsv(h1 + 0.03, s1 * 0.55, 1.0)
    golden = [w for w in words if w in _GOLDEN_HOUR_WORDS]
    sun_hue = _COLOUR_WORDS[golden[0]][0] if golden and golden[0] in _COLOUR_WORDS else 0.07  # dusk, dawn: orange
    return Palette(
        hue=h1,
        saturation=s1,
        deep=_hsv(_cooler(h1, 0.35), s1 * 0.7 + 0.25, depth),
        base=_hsv(h1, s1, v1 * 0.85),
        accent=_hsv(h2, s2, v2),
        glow=_hsv(h2 + 0.03, s2 * 0.45, 1.0),
        light=light,
        shade=_hsv(h2, s2 * 0.55, 0.3 + 0.1 * mood),
        mist=_hsv(h1, s1 * 0.3, 0.9),
        sunlight=_hsv(sun_hue + 0.03, 0.6, 1.0) if golden else light,
        golden_hour=bool(golden),
    )


# ---- primitives ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _coords() -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in 0..1 as a column (y) and a row (x), for broadcasting."""
    c = (np.arange(_WORK, dtype=np.float32) + 0.5) / _WORK
    c.flags.writeable = False  # shared by every render: nothing may draw into it
    return c[:, None], c[None, :]


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@lru_cache(maxsize=64)
def _interp_matrix(knots: int, n: int) -> np.ndarray:
    """(n, knots) weights that smoothly interpolate `knots` values onto n samples."""
    t = np.linspace(0, knots - 1, n, dtype=np.float32)
    left = np.minimum(t.astype(np.int64), knots - 2)
    f = _smoothstep(0.0, 1.0, t - left)
    matrix = np.zeros((n, knots), np.float32)
    matrix[np.arange(n), left] = 1 - f
    matrix[np.arange(n), left + 1] = f
    matrix.flags.writeable = False
    return matrix


def _noise(rng: np.random.Generator, octaves: int, cells: tuple[int, int] = (4, 4)) -> Mask:
    """Fractal value noise in 0..1: random grids, each finer and fainter, interpolated smoothly."""
    total = np.zeros((_WORK, _WORK), np.float32)
    rows, cols = cells
    weight, amplitude = 0.0, 1.0
    for _ in range(octaves):
        grid = rng.random((rows + 1, cols + 1), dtype=np.float32)
        total += amplitude * (_interp_matrix(rows + 1, _WORK) @ grid @ _interp_matrix(cols + 1, _WORK).T)
        weight += amplitude
        amplitude *= 0.5
        rows, cols = min(rows * 2, _WORK // 4), min(cols * 2, _WORK // 4)
    # Summed octaves crowd around 0.5; stretch them back so thresholds bite.
    return np.clip((total / weight - 0.5) * 1.8 + 0.5, 0.0, 1.0)


def _profile(rng: np.random.Generator, octaves: int, cells: int) -> np.ndarray:
    """A 1-D fractal curve in 0..1 across the width: ridge lines and skylines."""
    total = np.zeros(_WORK, np.float32)
    weight, amplitude = 0.0, 1.0
    for _ in range(octaves):
        total += amplitude * (_interp_matrix(cells + 1, _WORK) @ rng.random(cells + 1, dtype=np.float32))
        weight += amplitude
        amplitude *= 0.45
        cells = min(cells * 2, _WORK // 2)
    values = total / weight
    return (values - values.min()) / max(1e-6, float(values.max() - values.min()))


def _gradient(stops: list[tuple[float, Colour]]) -> Canvas:
    """A vertical gradient through (position, colour) stops."""
    y, _ = _coords()
    positions = [p for p, _ in stops]
    channels = [np.interp(y[:, 0], positions, [float(c[i]) for _, c in stops]) for i in range(3)]
    column = np.stack(channels, axis=-1).astype(np.float32)
    return np.repeat(column[:, None, :], _WORK, axis=1)


def _paint(canvas: Canvas, colour: Colour | Canvas, mask: Mask) -> None:
    canvas += (colour - canvas) * mask[..., None]


def _screen(canvas: Canvas, light: Canvas) -> None:
    """Add light the way projected light adds: brightens without clipping to flat white."""
    canvas[:] = 1 - (1 - canvas) * (1 - np.clip(light, 0.0, 1.0))


def _radial(cx: float, cy: float, radius: float) -> Mask:
    """A Gaussian spot: 1 at the centre, fading over `radius`."""
    y, x = _coords()
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (radius * radius)).astype(np.float32)


def _disc(cx: float, cy: float, radius: float) -> Mask:
    y, x = _coords()
    return np.clip((radius - np.sqrt((x - cx) ** 2 + (y - cy) ** 2)) / _AA + 0.5, 0.0, 1.0)


def _below(heights: np.ndarray) -> Mask:
    """1 under a curve of per-column heights (0 = top), antialiased."""
    y, _ = _coords()
    return np.clip((y - heights[None, :]) / _AA + 0.5, 0.0, 1.0)


def _shape_mask(draw: Callable[[ImageDraw.ImageDraw], None], blur: float = 0.0) -> Mask:
    """A mask drawn with Pillow shapes in working pixels, optionally softened."""
    image = Image.new("L", (_WORK, _WORK), 0)
    draw(ImageDraw.Draw(image))
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(image, np.float32) / 255


def _soften(mask: Mask, radius: float) -> Mask:
    image = Image.fromarray((np.clip(mask, 0.0, 1.0) * 255).astype(np.uint8), "L")
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255


def _stars(canvas: Canvas, rng: np.random.Generator, pal: Palette, count: int, region: Mask | None = None) -> None:
    """Mostly faint pin-pricks and a few bright stars with halos."""
    layer = np.zeros((_WORK, _WORK), np.float32)
    ys, xs = rng.integers(0, _WORK, count), rng.integers(0, _WORK, count)
    np.add.at(layer, (ys, xs), rng.random(count, dtype=np.float32) ** 3 * 0.9 + 0.1)
    for _ in range(max(2, count // 60)):
        layer += _radial(rng.random(), rng.random(), rng.uniform(0.003, 0.007)) * rng.uniform(0.5, 1.0)
    if region is not None:
        layer *= region
    tint = _mix(np.ones(3, np.float32), pal.glow, 0.35)
    _screen(canvas, layer[..., None] * tint)


# ---- scenes -------------------------------------------------------------------------------------------------------


def _space(rng: np.random.Generator, pal: Palette, steps: int) -> Canvas:
    """A starfield behind a glowing nebula: noise clouds along a soft diagonal band, with dark dust lanes."""
    canvas = _gradient([(0.0, pal.deep * 0.55), (1.0, pal.deep * 1.1)])
    _stars(canvas, rng, pal, 260 + 60 * steps)
    y, x = _coords()
    angle, offset = rng.uniform(0, np.pi), rng.uniform(-0.06, 0.06)
    distance = (x - 0.5) * np.sin(angle) - (y - 0.5) * np.cos(angle) + offset
    along = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle)
    band = np.exp(-((distance / 0.26) ** 2) - (along / 0.55) ** 2).astype(np.float32)
    cloud = _smoothstep(0.25, 0.85, _noise(rng, 3 + steps // 2, (3, 3))) * band
    tint = (_smoothstep(0.35, 0.9, _noise(rng, 2, (2, 2))) * 0.75)[..., None]  # mostly the main colour
    colour = pal.base + (pal.accent - pal.base) * tint
    _screen(canvas, colour * cloud[..., None] * 1.15)
    _screen(canvas, pal.light * (_smoothstep(0.45, 1.0, cloud) * 0.7)[..., None])
    dust = _smoothstep(0.5, 0.9, _noise(rng, 2 + steps // 2, (5, 5))) * band
    canvas *= 1 - 0.4 * dust[..., None]
    _stars(canvas, rng, pal, 40 + 10 * steps, region=cloud)  # young stars inside the cloud itself
    return canvas


def _sky(pal: Palette, horizon: float, warm: bool) -> tuple[Canvas, Colour]:
    """Sky from a deep zenith to a bright horizon; returns the canvas and the horizon colour."""
    glow = pal.sunlight if warm else _mix(pal.mist, pal.accent, 0.4)
    zenith = _mix(pal.shade, pal.deep, 0.4) if warm else _mix(pal.deep, pal.base, 0.3)
    # Warm skies redden above the glow (mid-dark yellow would read as olive).
    middle = _hsv(_cooler(pal.hue, 0.2), pal.saturation, 0.75) if warm else _mix(zenith, pal.base, 0.7)
    stops = [(0.0, zenith), (horizon * 0.6, middle), (horizon, glow), (1.0, glow)]
    return _gradient(stops), glow


def _sun(canvas: Canvas, pal: Palette, cx: float, cy: float, radius: float) -> None:
    _screen(canvas, pal.sunlight * (_radial(cx, cy, radius * 6) * 0.5)[..., None])
    _screen(canvas, pal.sunlight * (_radial(cx, cy, radius * 2.2) * 0.5)[..., None])
    _paint(canvas, _mix(pal.sunlight, np.ones(3, np.float32), 0.6), _disc(cx, cy, radius))


def _landscape(rng: np.random.Generator, pal: Palette, steps: int) -> Canvas:
    """Layered mountain ridges fading into haze (aerial perspective) under a sunset-style sky."""
    horizon = rng.uniform(0.5, 0.6)
    canvas, haze = _sky(pal, horizon, warm=True)
    _sun(canvas, pal, rng.uniform(0.25, 0.75), horizon - rng.uniform(0.02, 0.12), rng.uniform(0.035, 0.06))
    y, _ = _coords()
    layers = 3 + steps // 2
    for i in range(layers):
        depth = i / (layers - 1)
        baseline = horizon + 0.02 + (0.88 - horizon) * depth**1.2
        amplitude = 0.2 * (1 - 0.65 * depth)
        heights = baseline - amplitude * _profile(rng, 3 + steps // 2, 2 + i) ** 1.3
        # Walk the hue away from the sky's and darken with nearness: colourful, never grey, shadows.
        colour = _hsv(pal.hue - 0.03 - 0.2 * depth, pal.saturation * (0.45 + 0.25 * depth), 0.72 - 0.6 * depth**0.8)
        fill = colour + (haze - colour) * (_smoothstep(float(heights.min()), baseline + 0.15, y) * 0.45)[..., None]
        _paint(canvas, fill, _below(heights))
    return canvas


def _sea(rng: np.random.Generator, pal: Palette, steps: int) -> Canvas:
    """Open water to the horizon: perspective wave lines and the sun's glitter path."""
    horizon = rng.uniform(0.42, 0.54)
    canvas, glow = _sky(pal, horizon, warm=pal.golden_hour or rng.random() < 0.5)
    sun_x, radius = rng.uniform(0.3, 0.7), rng.uniform(0.03, 0.05)
    _sun(canvas, pal, sun_x, horizon - rng.uniform(0.08, 0.2), radius)
    y, x = _coords()
    depth = np.clip((y - horizon) / (1 - horizon), 0.0, 1.0)
    # Water keeps some sea blue whatever the sky does, so a gold sky does not make olive water.
    sea = _hsv(0.56, 0.6, 0.45)
    near, far = _mix(_mix(glow, pal.base, 0.55), sea, 0.6) * 0.75, _mix(pal.deep, sea * 0.4, 0.5)
    water_colour = np.repeat(near + (far - near) * (depth**0.6)[..., None], _WORK, axis=1)
    # Rows bunch up toward the horizon, like waves seen at a low angle.
    phase = np.log(depth + 0.015) * (14 + steps) + _noise(rng, 2 + steps // 3, (10, 4)) * 5
    crest = np.sin(phase)
    streaks = _smoothstep(0.35, 0.7, _noise(rng, 2, (40, 6)))
    path = np.exp(-(((x - sun_x) / (0.02 + 0.22 * depth)) ** 2))
    sparkle = _smoothstep(0.7, 1.0, crest) * streaks
    water_colour *= (1 - 0.22 * _smoothstep(-0.2, -1.0, crest) * depth)[..., None]
    water_colour += (sparkle * (path * 0.9 + 0.12 * depth))[..., None] * pal.glow
    water_colour += (path * np.exp(-depth * 4) * 0.35)[..., None] * pal.glow
    _paint(canvas, np.clip(water_colour, 0.0, 1.0), _below(np.full(_WORK, horizon, np.float32)))
    return canvas


Box = tuple[float, float, float]  # left, top, right in working pixels; the bottom is the ground


def _buildings(rng: np.random.Generator, ground: float, tallest: float, widths: tuple[float, float]) -> list[Box]:
    """Random (left, top, right) building boxes across the width, in working pixels."""
    boxes, x = [], -rng.uniform(0, 20)
    while x < _WORK:
        width = rng.uniform(*widths) * _WORK
        top = (ground - rng.uniform(0.25, 1.0) * tallest) * _WORK
        boxes.append((x, top, x + width))
        x += width + rng.uniform(0, 3)
    return boxes


def _city(rng: np.random.Generator, pal: Palette, steps: int) -> Canvas:
    """Three rows of towers with lit windows and a neon haze, mirrored in the water in front."""
    ground = rng.uniform(0.72, 0.78)
    canvas, haze = _sky(pal, ground, warm=False)
    y, _ = _coords()
    _stars(canvas, rng, pal, 120, region=np.clip(1 - y * 2.2, 0.0, 1.0))
    lights = np.zeros_like(canvas)
    for row, (tallest, widths) in enumerate(((0.5, (0.03, 0.06)), (0.38, (0.05, 0.09)), (0.24, (0.07, 0.12)))):
        boxes = _buildings(rng, ground, tallest, widths)
        _paint(canvas, _mix(_mix(haze, pal.deep, 0.5), pal.deep * 0.4, row / 2), _towers_mask(boxes, ground))
        if row:
            _windows(lights, rng, pal, boxes, ground, 0.18 + 0.03 * steps)
        # Haze settles between the rows, which is what makes them read as distant.
        _screen(canvas, haze * (np.exp(-(((y - ground + 0.04) / 0.12) ** 2)) * 0.22)[..., None])
    bloom = np.stack([_soften(lights[..., i], 3) for i in range(3)], axis=-1)
    _screen(canvas, lights + bloom * 0.9)
    _reflect(canvas, ground, pal)
    return canvas


def _towers_mask(boxes: list[Box], ground: float) -> Mask:
    def draw(d: ImageDraw.ImageDraw) -> None:
        for left, top, right in boxes:
            d.rectangle((left, top, right, ground * _WORK), fill=255)

    return _shape_mask(draw)


def _windows(
    lights: Canvas, rng: np.random.Generator, pal: Palette, boxes: list[Box], ground: float, chance: float
) -> None:
    """Small lit windows, each tower in one colour, into `lights` (bloomed later)."""
    colours = (pal.light, pal.glow, _hsv(0.11, 0.45, 1.0))  # the prompt's own neon, and warm lamplight
    bottom = ground * _WORK - 3
    for left, top, right in boxes:
        colour = colours[int(rng.integers(len(colours)))]
        for wy in np.arange(top + 4, bottom, 6):
            for wx in np.arange(left + 2, right - 3, 5):
                if rng.random() < chance:
                    lights[int(wy) : int(wy) + 2, int(wx) : int(wx) + 2] = colour * rng.uniform(0.5, 1.0)


def _reflect(canvas: Canvas, ground: float, pal: Palette) -> None:
    """Water below the ground line: the scene above, flipped, darkened and blurred."""
    row = int(ground * _WORK)
    height = _WORK - row
    mirrored = canvas[row - height : row][::-1].copy()
    soft = np.stack([_soften(mirrored[..., i], 2.5) for i in range(3)], axis=-1)
    fade = np.linspace(0.75, 0.3, height, dtype=np.float32)[:, None, None]
    canvas[row:] = pal.deep * 0.5 + soft * fade


def _silhouette(words: list[str], c: float, s: float) -> Mask:
    """A head with ears, a head and shoulders, or an orb: centre `c` and head size `s` in working pixels."""
    head_y = _WORK * 0.5

    def draw(d: ImageDraw.ImageDraw) -> None:
        if _EARED & set(words):
            d.ellipse((c - s, head_y - s * 0.9, c + s, head_y + s * 0.9), fill=255)
            for side in (-1, 1):
                d.polygon(
                    [
                        (c + side * s * 0.95, head_y - s * 0.2),
                        (c + side * s * 0.85, head_y - s * 1.55),
                        (c + side * s * 0.25, head_y - s * 0.75),
                    ],
                    fill=255,
                )
            d.ellipse((c - s * 1.6, head_y + s * 0.6, c + s * 1.6, head_y + s * 4.0), fill=255)
        elif _PEOPLE & set(words):
            d.ellipse((c - s * 0.8, head_y - s * 1.1, c + s * 0.8, head_y + s * 0.9), fill=255)
            d.rectangle((c - s * 0.3, head_y + s * 0.5, c + s * 0.3, head_y + s * 1.3), fill=255)
            d.ellipse((c - s * 2.1, head_y + s * 1.15, c + s * 2.1, head_y + s * 4.5), fill=255)
        else:
            d.ellipse((c - s * 1.3, head_y - s * 1.3, c + s * 1.3, head_y + s * 1.3), fill=255)

    return _shape_mask(draw, blur=0.8)


def _subject(rng: np.random.Generator, pal: Palette, steps: int, words: list[str]) -> Canvas:
    """A backlit silhouette with a rim of light, in front of out-of-focus lights."""
    canvas = _gradient([(0.0, _mix(pal.deep, pal.base, 0.35)), (1.0, pal.deep)])
    _bokeh(canvas, rng, pal, 10 + 3 * steps)
    _screen(canvas, pal.glow * (_radial(0.5, 0.42, 0.38) * 0.55)[..., None])
    centre, size = _WORK / 2 + rng.uniform(-20, 20), _WORK * rng.uniform(0.17, 0.2)
    mask = _silhouette(words, centre, size)
    # Light from behind: a halo first, so the body's soft edge blends into it, then a rim just inside the edge.
    _screen(canvas, pal.glow * (_soften(mask, 18) * 0.85)[..., None])
    _paint(canvas, _body_shading(pal, words), mask)
    rim = np.clip((mask - _soften(mask, 7)) * 1.6, 0.0, 1.0) ** 1.5
    _screen(canvas, pal.glow * (rim * 0.75)[..., None])
    if _EARED & set(words):
        _eyes(canvas, pal, centre / _WORK, size / _WORK)
    return canvas


def _body_shading(pal: Palette, words: list[str]) -> Canvas:
    """Dark, lit a little from above; an orb gets a sphere's highlight so it does not read as a hole."""
    y, _ = _coords()
    top, bottom = _mix(pal.deep, pal.base, 0.25) * 0.6, pal.deep * 0.4
    if (_EARED | _PEOPLE) & set(words):
        return top + (bottom - top) * y[..., None]
    light = _radial(0.42, 0.4, 0.3)[..., None]
    return bottom + (_mix(pal.base, pal.glow, 0.3) * 0.75 - bottom) * light


def _eyes(canvas: Canvas, pal: Palette, cx: float, size: float) -> None:
    """Two small glowing eyes on the head of an eared silhouette (centre and head size in 0..1 units)."""
    for side in (-1, 1):
        x = cx + side * size * 0.4
        _screen(canvas, pal.accent * (_radial(x, 0.49, 0.02) * 0.7)[..., None])
        _paint(canvas, _mix(pal.accent, pal.glow, 0.5), _disc(x, 0.49, 0.009))


def _bokeh(canvas: Canvas, rng: np.random.Generator, pal: Palette, count: int) -> None:
    """Out-of-focus discs of light, large and faint or small and bright."""
    for colour in (pal.accent, pal.glow, pal.base):
        spots = [(rng.random() * _WORK, rng.random() * _WORK, rng.uniform(6, 34)) for _ in range(count // 3)]
        _screen(canvas, colour * (_spots_mask(spots) * 0.9)[..., None])


def _spots_mask(spots: list[tuple[float, float, float]]) -> Mask:
    def draw(d: ImageDraw.ImageDraw) -> None:
        for x, y, r in spots:
            d.ellipse((x - r, y - r, x + r, y + r), fill=90)

    return _shape_mask(draw, blur=2.5)


def _abstract(rng: np.random.Generator, pal: Palette, steps: int) -> Canvas:
    """A mesh gradient of the palette with translucent ribbons and fine flowing lines."""
    y, x = _coords()
    # The main colour's tones come first and most often, so the prompt's colour leads.
    colours = [pal.base, _mix(pal.base, pal.deep, 0.6), pal.accent, pal.light, pal.glow, pal.deep]
    points = [(rng.random(), rng.random(), colours[i % len(colours)]) for i in range(4 + steps // 2)]
    weights = [np.exp(-((x - px) ** 2 + (y - py) ** 2) / 0.09) + 1e-4 for px, py, _ in points]
    total = sum(weights)
    canvas = sum(w[..., None] * c for w, (_, _, c) in zip(weights, points, strict=True)) / total[..., None]
    canvas = canvas.astype(np.float32)
    for _ in range(2 + steps // 2):
        centre = _wave_curve(rng, x)
        width = rng.uniform(0.03, 0.09) * (0.6 + 0.4 * np.sin(x * rng.uniform(3, 7) + rng.uniform(0, 6)))
        inside = np.clip(1 - np.abs(y - centre) / width, 0.0, 1.0) ** 0.7
        _screen(canvas, (pal.glow if rng.random() < 0.5 else pal.mist) * (inside * rng.uniform(0.2, 0.4))[..., None])
    centre = _wave_curve(rng, x)
    for k in range(3 + steps):
        line = np.exp(-(((y - centre - k * 0.012) / 0.0025) ** 2))
        _screen(canvas, pal.mist * (line * 0.35)[..., None])
    return canvas


def _wave_curve(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """A gentle curve across the width made of two sine waves."""
    base, amplitude = rng.uniform(0.2, 0.8), rng.uniform(0.06, 0.18)
    f1, f2, p1, p2 = rng.uniform(3, 7), rng.uniform(8, 13), rng.uniform(0, 6.3), rng.uniform(0, 6.3)
    return base + amplitude * (np.sin(x * f1 + p1) + 0.3 * np.sin(x * f2 + p2))


def _scene(words: list[str]) -> str:
    """subject, space, landscape, sea, city or abstract."""
    if _SCENES["subject"] & set(words):
        return "subject"
    for word in words:  # the first scene word in the prompt decides: "mountains by the sea" is a landscape
        for scene, keys in _SCENES.items():
            if word in keys:
                return scene
    # A time of day alone ("sunset", "dawn") suggests a landscape; with a place word the place wins.
    return "landscape" if any(w in _GOLDEN_HOUR_WORDS for w in words) else "abstract"


def _paint_scene(scene: str, rng: np.random.Generator, pal: Palette, steps: int, words: list[str]) -> Canvas:
    if scene == "subject":
        return _subject(rng, pal, steps, words)
    painters = {"space": _space, "landscape": _landscape, "sea": _sea, "city": _city, "abstract": _abstract}
    return painters[scene](rng, pal, steps)


# ---- finishing ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _vignette() -> np.ndarray:
    c = np.linspace(-0.5, 0.5, SIZE, dtype=np.float32)
    shade = (1.0 - 0.6 * (c[:, None] ** 2 + c[None, :] ** 2))[..., None]
    shade.flags.writeable = False
    return shade


def _finish(canvas: Canvas, rng: np.random.Generator, steps: int) -> Image.Image:
    """Enlarge in floating point (no banding), darken the corners, add film grain, quantise once."""
    channels = [Image.fromarray(np.ascontiguousarray(canvas[..., i], np.float32), "F") for i in range(3)]
    big = np.stack([np.asarray(c.resize((SIZE, SIZE), Image.Resampling.BICUBIC)) for c in channels], axis=-1)
    big = big * _vignette()
    # More steps, finer finish: the grain fades as detail is added elsewhere.
    grain = rng.standard_normal((SIZE, SIZE, 1), dtype=np.float32) * (0.022 - 0.0015 * steps)
    return Image.fromarray((np.clip(big + grain, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), "RGB")


def _label(img: Image.Image, seed: int) -> None:
    """A small legible tag so nobody mistakes the sketch for an AI picture."""
    draw = ImageDraw.Draw(img, "RGBA")
    font = ImageFont.load_default(size=22)
    text = f"OFFLINE SKETCH · seed {seed}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad, margin = 10, 24
    box = (margin, img.height - margin - (bottom - top) - 2 * pad, margin + (right - left) + 2 * pad,
           img.height - margin)
    draw.rounded_rectangle(box, radius=10, fill=(0, 0, 0, 150))
    draw.text((box[0] + pad - left, box[1] + pad - top), text, font=font, fill=(255, 255, 255, 235))


def _to_size(img: Image.Image, width: int, height: int) -> Image.Image:
    """The square sketch cropped to the asked aspect ratio around its centre, then scaled to the asked size."""
    if (width, height) == img.size:
        return img
    ratio = width / height
    w, h = (SIZE, round(SIZE / ratio)) if ratio >= 1 else (round(SIZE * ratio), SIZE)
    left, top = (SIZE - w) // 2, (SIZE - h) // 2
    return img.crop((left, top, left + w, top + h)).resize((width, height), Image.Resampling.LANCZOS)


def _reference_palette(reference: bytes, colours: int = 6) -> np.ndarray:
    """The reference's main colours, darkest first: (colours, 3) in 0..1."""
    with Image.open(io.BytesIO(reference)) as ref:
        small = ref.convert("RGB").resize((64, 64), Image.Resampling.BOX)
    quantised = small.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    flat = np.asarray(quantised.getpalette()[: colours * 3], np.float32).reshape(-1, 3) / 255.0
    return flat[np.argsort(flat @ np.array([0.299, 0.587, 0.114], np.float32))]


def _recolour(img: Image.Image, reference: bytes, amount: float = 0.75) -> Image.Image:
    """Map the sketch's light and shade onto the reference's colours (a gradient map), so its palette shows."""
    palette = _reference_palette(reference)
    pixels = np.asarray(img, np.float32) / 255.0
    light = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    stops = np.linspace(0.0, 1.0, len(palette))
    mapped = np.stack([np.interp(light, stops, palette[:, i]) for i in range(3)], axis=-1)
    blended = pixels * (1 - amount) + mapped * amount
    return Image.fromarray((np.clip(blended, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


class OfflineGenerator:
    """Draws a labelled sketch from the prompt's words: the same prompt, steps and seed give the same bytes."""

    name = "offline"
    model = "akari-offline-sketch-v1"

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None,
                 inputs: ModelInputs | None = None) -> GeneratedImage:
        """Any model's request is honoured in what a sketch can show: its size and a reference's colours."""
        inputs = inputs or ModelInputs()
        spec = get_model(inputs.model) if inputs.model else None
        steps = spec.check_steps(steps) if spec else check_steps(steps)
        digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{steps}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
        words = _words(prompt)
        scene = _scene(words)
        image = _finish(_paint_scene(scene, rng, _palette(words), min(steps, 8), words), rng, min(steps, 8))
        if inputs.width and inputs.height:
            image = _to_size(image, inputs.width, inputs.height)
        if inputs.references:
            image = _recolour(image, inputs.references[0])
        _label(image, seed)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        data = out.getvalue()
        fmt, width, height = inspect_image(data)
        return GeneratedImage(
            data=data,
            format=fmt,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            model=self.model,
            generator=self.name,
            meta={"label": LABEL, "scene": scene, **({"as_model": spec.id} if spec else {})},
        )

    def check(self) -> str:
        return "Offline renderer ready"
