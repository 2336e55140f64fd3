"""Faults a test can switch on in the simulator's HTTP front: latency, 503s, 429s, dropped or cut connections."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Faults a test can switch on: latency, a fraction of 503s, 429s with Retry-After, dropped connections, and
    answers cut off halfway (`truncate`: the headers and half the body, then the connection closes, as a proxy or
    load balancer that times out or resets a long answer does); `max_hits` bounds how many requests are hit."""

    latency: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: int = 1
    drop: float = 0.0
    truncate: float = 0.0
    max_hits: int | None = None  # None: no bound
    path_pattern: str = ""  # only requests whose path matches this regex; "" means all
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def applies(self, path: str) -> bool:
        """Does this request's path match `path_pattern` (always, when it is empty)?"""
        return not self.path_pattern or re.search(self.path_pattern, path) is not None

    def pick(self, path: str) -> str:
        """Which fault hits this request: '', 'drop', 'truncate', '503' or '429'."""
        if not self.applies(path) or self.max_hits == 0:
            return ""
        shares = (("drop", self.drop), ("truncate", self.truncate), ("503", self.error_503), ("429", self.error_429))
        fault = choose(self._rng, shares)
        if fault and self.max_hits is not None:
            self.max_hits -= 1
        return fault


def choose(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    """One weighted draw: the name whose share of [0, 1) the roll lands in, or "" past them all."""
    roll = rng.random()
    for name, share in shares:
        if roll < share:
            return name
        roll -= share
    return ""
