"""Haystacks, and prompts fitted to an exact token count with a needle at a token depth.

A haystack is filler text seen as an endless (cycled) stream of words, each word carrying its
leading whitespace. A prompt is

    prefix | instruction | filler before | needle | filler after | question | template tail | answer

where the two filler segments are cut from the stream so that the whole prompt is exactly the
requested number of tokens. The needle goes at the last sentence boundary at or before the
requested depth (a fraction of the filler tokens); depth 1 appends it after all filler. When the
end of the filler would fall inside a word, the filler after the needle resumes a sentence or a
few later (depth 1: the filler starts at a later sentence), and only if no such try works is a
word cut; each prompt records whether that happened. Everything before the needle is the same
for every prompt of one length whose needle sits deeper, so a backend can compute that shared
prefix once.

`fit_needles` does the same for several needles (RULER's multi-key, multi-value and multi-query
NIAH, the chains of variable tracking): each at its own depth, in the order given, the filler
reading on from one needle to the next as one text.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from longctx_eval.prompts import PromptFormat

NOISE_SENTENCES = (
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
)

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_MAX_START_TRIES = 32


class PromptTooShortError(ValueError):
    """The requested length cannot hold the prompt's fixed text."""

    def __init__(self, length: int, fixed: int) -> None:
        self.length, self.fixed = length, fixed
        super().__init__(f"length {length} cannot hold the prompt's fixed text ({fixed} tokens)")


class Haystack:
    """Filler text as an endless stream of words with known sentence starts."""

    def __init__(self, text: str, name: str) -> None:
        words = re.findall(r"\s*\S+", text)
        if not words:
            raise ValueError(f"haystack {name!r} has no text")
        # Every word carries leading whitespace, so the stream can cycle seamlessly.
        words = [w if w[:1].isspace() else " " + w for w in words]
        self.name = name
        self.words = words
        starts = [0] + [i + 1 for i, w in enumerate(words[:-1]) if _SENTENCE_END.search(w)]
        self.sentence_starts = starts
        self._is_start = set(starts)

    @classmethod
    def noise(cls) -> Haystack:
        """RULER's and the passkey test's repeated filler sentences."""
        return cls(" ".join(NOISE_SENTENCES), "noise")

    @classmethod
    def noise_lines(cls) -> Haystack:
        """The same sentences as RULER lays them out: the five of them on one line, line after line."""
        # The leading newline stays on the first word, so the cycled stream breaks a line there.
        return cls("\n" + " ".join(NOISE_SENTENCES), "noise")

    def word(self, i: int) -> str:
        return str(self.words[i % len(self.words)])

    def starts_sentence(self, i: int) -> bool:
        return i % len(self.words) in self._is_start

    def sentence_start(self, k: int) -> int:
        """Word index of the k-th sentence start of the endless stream."""
        n, m = len(self.words), len(self.sentence_starts)
        return self.sentence_starts[k % m] + (k // m) * n

    def sentence_start_from(self, word: int, k: int) -> int:
        """Word index of the k-th sentence start at or after `word` (k = 0: the first one)."""
        n = len(self.words)
        cycle, offset = divmod(word, n)
        first = bisect.bisect_left(self.sentence_starts, offset)
        return self.sentence_start(cycle * len(self.sentence_starts) + first + k)


@dataclass(frozen=True)
class BuiltPrompt:
    ids: list[int]
    needle_token_offset: int
    needle_tokens: int
    filler_tokens: int
    haystack_start_word: int  # where the filler after the needle (depth 1: all filler) starts
    cut_mid_word: bool
    filler_before: int = 0  # filler tokens before the needle

    @property
    def depth(self) -> float:
        """The needle's real depth: its token offset over the prompt length."""
        return self.needle_token_offset / len(self.ids)

    @property
    def filler_depth(self) -> float:
        """Where the needle really sits in the filler, on the scale of the requested depth (0: all
        filler after it, 1: all before it). The needle snaps back to a sentence end, so with a
        haystack of long sentences this can lie well before the requested depth."""
        return self.filler_before / self.filler_tokens if self.filler_tokens else 0.0


@dataclass(frozen=True)
class PromptParts:
    instruction: str
    needle: str
    question: str
    answer_prefix: str


class _Stream:
    """Token ids of a haystack's words under one prompt format (each segment opens on a new line)."""

    def __init__(self, fmt: PromptFormat, haystack: Haystack) -> None:
        self.fmt, self.hay = fmt, haystack

    def ids(self, i: int, first: bool) -> list[int]:
        word = self.hay.word(i)
        return self.fmt.encode("\n" + word.lstrip()) if first else self.fmt.encode(word)

    def fill(self, start: int, budget: int) -> tuple[list[int], int, int]:
        """Whole words from `start` while they fit: (ids, next word index, tokens still missing)."""
        out: list[int] = []
        i = start
        while len(out) < budget:
            ids = self.ids(i, first=not out)
            if len(out) + len(ids) > budget:
                break
            out += ids
            i += 1
        return out, i, budget - len(out)

    def up_to_sentence(self, start: int, target: int) -> tuple[list[int], int]:
        """Whole sentences from `start` while the total stays <= target: (ids, next word index)."""
        out: list[int] = []
        best_len, best_next = 0, start
        i = start
        while True:
            ids = self.ids(i, first=not out)
            if len(out) + len(ids) > target:
                break
            out += ids
            i += 1
            if self.hay.starts_sentence(i):
                best_len, best_next = len(out), i
        return out[:best_len], best_next


def fixed_tokens(fmt: PromptFormat, parts: PromptParts) -> int:
    """Tokens of everything but the filler: the shortest prompt these parts can make."""
    head, (newline, needle), tail = _frame(fmt, parts)
    return len(head) + len(newline) + len(needle) + len(tail)


def _frame(fmt: PromptFormat, parts: PromptParts) -> tuple[list[int], tuple[list[int], list[int]], list[int]]:
    head = fmt.prefix_ids + fmt.encode_first(parts.instruction)
    # The needle's line break is its own piece so that the recorded offset is the needle's first token.
    needle = (fmt.encode("\n"), fmt.encode(parts.needle))
    tail = fmt.encode("\n" + parts.question) + fmt.tail_ids + fmt.answer_ids(parts.answer_prefix)
    return head, needle, tail


def build_prompt(
    fmt: PromptFormat, haystack: Haystack, parts: PromptParts, length: int, depth: float
) -> BuiltPrompt:
    """A prompt of exactly `length` tokens with the needle at `depth` (0…1) of the filler."""
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1], got {depth}")
    head, (newline, needle), tail = _frame(fmt, parts)
    head_fixed = len(head) + len(newline) + len(needle) + len(tail)
    budget = length - head_fixed
    if budget < 0:
        raise PromptTooShortError(length, head_fixed)
    stream = _Stream(fmt, haystack)
    first_try: tuple[list[int], list[int], int, int] | None = None
    if depth < 1.0:
        before, resume = stream.up_to_sentence(0, math.floor(depth * budget))
    for k in range(_MAX_START_TRIES):
        if depth >= 1.0:
            start = haystack.sentence_start(k)
            before, nxt, gap = stream.fill(start, budget)
            after: list[int] = []
        else:
            start = haystack.sentence_start_from(resume, k)
            after, nxt, gap = stream.fill(start, budget - len(before))
        if gap == 0:
            return _assemble(head, before, (newline, needle), after, tail, start, cut=False)
        if first_try is None:
            first_try = (before, after, nxt, start)
    # No start put the end on a word boundary: cut the next word to the missing token count.
    assert first_try is not None
    before, after, nxt, start = first_try
    if depth >= 1.0:
        before = before + stream.ids(nxt, first=not before)[: budget - len(before)]
    else:
        missing = budget - len(before) - len(after)
        after = after + stream.ids(nxt, first=not after)[:missing]
    return _assemble(head, before, (newline, needle), after, tail, start, cut=True)


def _assemble(
    head: list[int],
    before: list[int],
    needle: tuple[list[int], list[int]],
    after: list[int],
    tail: list[int],
    start: int,
    cut: bool,
) -> BuiltPrompt:
    newline, text = needle
    ids = head + before + newline + text + after + tail
    return BuiltPrompt(
        ids=ids,
        needle_token_offset=len(head) + len(before) + len(newline),
        needle_tokens=len(text),
        filler_tokens=len(before) + len(after),
        haystack_start_word=start,
        cut_mid_word=cut,
        filler_before=len(before),
    )


@dataclass(frozen=True)
class MultiNeedlePrompt:
    ids: list[int]
    needle_token_offsets: list[int]  # first token of each needle, in the order the needles were given
    needle_tokens: list[int]
    filler_tokens: int
    haystack_start_word: int  # where the last filler segment starts
    cut_mid_word: bool

    @property
    def depths(self) -> list[float]:
        """Each needle's real depth: its token offset over the prompt length."""
        return [offset / len(self.ids) for offset in self.needle_token_offsets]


def fit_needles(
    fmt: PromptFormat,
    haystack: Haystack,
    head: list[int],
    needles: Sequence[str],
    depths: Sequence[float],
    tail: list[int],
    length: int,
) -> MultiNeedlePrompt:
    """`head | filler | needle | filler | needle … | filler | tail`, exactly `length` tokens.

    `head` and `tail` are ids the caller framed (prefix, instruction; question, template tail,
    answer prefix). Needle k (its own line) goes at the last sentence boundary at or before
    `depths[k]` (non-decreasing, 0…1) of the filler tokens; needles at depth 1 follow all filler.
    Each filler segment continues the stream where the one before it stopped, so the haystack
    reads as one text; only the last segment is fitted to the exact count, as in `build_prompt`.
    """
    if len(needles) != len(depths) or not needles:
        raise ValueError("give one depth per needle, and at least one needle")
    if any(not 0.0 <= d <= 1.0 for d in depths) or any(b < a for a, b in itertools.pairwise(depths)):
        raise ValueError(f"depths must be non-decreasing within [0, 1], got {list(depths)}")
    pieces = [(fmt.encode("\n"), fmt.encode(n)) for n in needles]
    fixed = len(head) + sum(len(a) + len(b) for a, b in pieces) + len(tail)
    budget = length - fixed
    if budget < 0:
        raise PromptTooShortError(length, fixed)
    stream = _Stream(fmt, haystack)
    inner = sum(1 for d in depths if d < 1.0)  # needles that have filler after them
    segments: list[list[int]] = []
    used, resume = 0, 0
    for k in range(inner):
        seg, resume = stream.up_to_sentence(resume, max(0, math.floor(depths[k] * budget) - used))
        segments.append(seg)
        used += len(seg)
    last, start, cut = _fill_exactly(stream, haystack, resume, budget - used, first_segment=inner == 0)
    segments.append(last)
    ids = list(head)
    offsets = []
    for k, (newline, needle) in enumerate(pieces):
        if k <= inner:  # segment k precedes needle k; the fitted one precedes the needles at depth 1
            ids += segments[k]
        ids += newline
        offsets.append(len(ids))
        ids += needle
    if inner == len(pieces):
        ids += segments[inner]
    ids += tail
    return MultiNeedlePrompt(
        ids=ids,
        needle_token_offsets=offsets,
        needle_tokens=[len(b) for _, b in pieces],
        filler_tokens=budget,
        haystack_start_word=start,
        cut_mid_word=cut,
    )


def _fill_exactly(
    stream: _Stream, haystack: Haystack, resume: int, budget: int, first_segment: bool
) -> tuple[list[int], int, bool]:
    """Exactly `budget` filler tokens: whole words from a sentence start, a later start if the end
    would fall inside a word, and a cut word only when no start works. (ids, start word, cut)."""
    first_try: tuple[list[int], int, int] | None = None
    for k in range(_MAX_START_TRIES):
        start = haystack.sentence_start(k) if first_segment else haystack.sentence_start_from(resume, k)
        ids, nxt, gap = stream.fill(start, budget)
        if gap == 0:
            return ids, start, False
        if first_try is None:
            first_try = (ids, nxt, start)
    assert first_try is not None
    ids, nxt, start = first_try
    return ids + stream.ids(nxt, first=not ids)[: budget - len(ids)], start, True
