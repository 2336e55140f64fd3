"""Faults a test can switch on in the simulator's HTTP front: latency, 503s, 429s, dropped connections."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Faults a test can switch on: latency, a fraction of 503s, 429s with Retry-After, dropped connections."""

    latency: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: int = 1
    drop: float = 0.0
    path_pattern: str = ""  # only requests whose path matches this regex; "" means all
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def applies(self, path: str) -> bool:
        """Does this request's path match `path_pattern` (always, when it is empty)?"""
        return not self.path_pattern or re.search(self.path_pattern, path) is not None

    def pick(self, path: str) -> str:
        """Which fault hits this request: '', 'drop', '503' or '429'."""
        if not self.applies(path):
            return ""
        return choose(self._rng, (("drop", self.drop), ("503", self.error_503), ("429", self.error_429)))


def choose(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    """One weighted draw: the name whose share of [0, 1) the roll lands in, or "" past them all."""
    roll = rng.random()
    for name, share in shares:
        if roll < share:
            return name
        roll -= share
    return ""
