"""An offline generator that holds every generation until released, to look at a job while it runs."""

from __future__ import annotations

import threading

from akari.generators import GeneratedImage
from akari.generators.offline import OfflineGenerator

HOLD_AT_MOST_S = 30


class GatedGenerator(OfflineGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None) -> GeneratedImage:
        self.started.set()
        assert self.release.wait(HOLD_AT_MOST_S), "the test never released the generation"
        return super().generate(prompt, steps=steps, seed=seed)
