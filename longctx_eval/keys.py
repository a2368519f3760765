"""Random keys and values that tasks hide in their prompts: digit strings, adjective-noun keys, UUIDs.

One place for every draw, so a task, the reference model's training episodes and a user's plugin
draw them the same way from a seeded `numpy.random.Generator` (same seed, same keys). The order of
the generator calls is part of the contract: the shipped reference checkpoint was trained on
episodes drawn through these functions, and changing the order changes its training data.
"""

from __future__ import annotations

import uuid

import numpy as np

ADJECTIVES = (
    "amber bitter brave calm clever cosmic crimson curious dusty eager faint fierce gentle golden "
    "hollow humble icy jolly lively lonely lucky misty modest noble odd pale proud quiet rapid rusty "
    "silent silver sleepy smooth solar steady stormy sunny swift tender tidy vivid wild windy wise"
).split()
NOUNS = (
    "anchor apple arrow badge banner basket beacon bridge candle canyon castle cedar comet compass "
    "crystal desert falcon feather forest garden glacier harbor island jungle lantern meadow mirror "
    "mountain oasis orchard pebble planet prairie quarry river saddle shadow summit temple thunder "
    "tower valley violin willow"
).split()


def random_digits(rng: np.random.Generator, digits: int) -> str:
    """A number of exactly `digits` digits (no leading zero), as a string."""
    return str(int(rng.integers(10 ** (digits - 1), 10**digits)))


def word_key(rng: np.random.Generator) -> str:
    """An adjective-noun key such as 'quiet-harbor' (NIAH's keys)."""
    return f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]}-{NOUNS[rng.integers(len(NOUNS))]}"


def all_word_keys() -> list[str]:
    """Every key `word_key` can draw (to size a prompt for the longest one in tokens)."""
    return [f"{a}-{n}" for a in ADJECTIVES for n in NOUNS]


def random_uuid(rng: np.random.Generator) -> str:
    """A version-4 UUID drawn from `rng` (not from the OS), so seeded tasks stay reproducible."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))
