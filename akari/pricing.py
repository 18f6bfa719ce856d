"""Estimated Workers AI cost of a FLUX.1 [schnell] image, in neurons and dollars."""

from __future__ import annotations

NEURONS_PER_TILE = 4.80  # one 512x512 tile
NEURONS_PER_STEP = 9.60
DOLLARS_PER_1000_NEURONS = 0.011
FREE_NEURONS_PER_DAY = 10_000
IMAGE_SIDE = 1024


def neurons_for(steps: int, width: int = IMAGE_SIDE, height: int = IMAGE_SIDE) -> float:
    """57.6 neurons for a 1024x1024 image at 4 steps; 96 at 8."""
    tiles = -(-width // 512) * -(-height // 512)
    return round(tiles * NEURONS_PER_TILE + steps * NEURONS_PER_STEP, 2)


def dollars_for(neurons: float) -> float:
    return neurons * DOLLARS_PER_1000_NEURONS / 1000
