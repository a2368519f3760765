"""Prefix sharing for the HF backend: computing once the prefix that a batch's prompts share.

NIAH and passkey prompts of one length share their haystack up to the needle. The planner groups
prompts into as many batches as plain batching makes, counts the work of sharing against not
sharing (`Costs`), and fills a batch's KV cache with the shared prefix computed once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from longctx_eval.backends.kv_cache import kv_cache
from longctx_eval.threads import OtherWork, spinning

# Below this many shared tokens a prefix is not worth computing apart (nor the bookkeeping).
_MIN_SHARED_PREFIX = 32


# Other processes' busy cores above which spinning OpenMP threads lose sharing's gain (see
# `contended`).
_CONTENDED_CORES = 0.5
_OTHERS = OtherWork()


def contended() -> bool:
    """Whether sharing would lose to contention: this process's OpenMP threads spin while they
    wait, and other processes keep at least `_CONTENDED_CORES` busy. Sharing runs more, shorter
    parallel regions (a batch-1 prefix pass, tails in chunks), and each region's wait for threads
    that lost their core to another process is what spinning contention costs: measured on the
    2-core development VM, passkey at 4k with sharing took 1.29× plain batching's time with a
    second process multiplying matrices on both cores (benchmarks/README.md, P4), while under
    PASSIVE waiting, or with no other work, sharing saved 4-25%. Below half a core of other work
    the threads mostly find their cores free. Sleeping (PASSIVE) threads are not guarded: beside
    five other sessions (load average 14-20) sharing took 0.45-0.57× plain batching's time in
    three cells of four, and 1.17× in the fourth, where plain batching's own times ranged from
    7.1 to 12.6 s (benchmarks/README.md, P4 on a busy machine)."""
    if not spinning():
        return False
    busy = _OTHERS.busy_cores()
    return busy is not None and busy >= _CONTENDED_CORES


# The cost model's constants. Where they come from, and the machine they hold for: the 2-core
# development VM (Firecracker, torch 2.13 CPU build, float32, 2 threads, the shipped reference
# model: 4 layers, hidden 192). Sharing is only ever on for float32 on a CPU (`HFLanguageModel.
# _shares_prefixes`); elsewhere these are not used.
#
# A query chunk attending to cached keys gets an explicit mask; its elements (rows × queries × keys)
# are kept below this so that a 32k-token context does not need a mask of gigabytes (a bound on
# memory, not a measured cost: 256 MiB of float32).
_MASK_ELEMENTS = 2**26
# Counted attention work of a masked query chunk over the causal flag's (the kernel visits every
# pair of the rectangle, and reads the mask): measured 1.07 on the reference model's shapes on
# that VM (sdpa, masked chunk against the causal triangle); 1.15 leaves room for other shapes.
_MASKED = 1.15
# Share a batch's prefix only when the count says it saves at least this fraction: the count is
# rough, and plain batching must never lose. Chosen, then checked by benchmarks/prefix_reuse.py
# on that VM: where the count said ≥ 10% the measured saving was 4-25%.
_MARGIN = 0.9
# Fixed cost of one forward call per decoder layer, in FLOPs: an estimate of ~1 ms of Python and
# kernel launches per layer on that VM, at 100 GFLOP/s (not measured apart). On a machine
# whose matrix products are faster and whose Python is not, a call costs more FLOPs than this, and
# the count leans toward sharing a little too often; the margin above absorbs some of it.
_CALL_PER_LAYER = 1e8


@dataclass(frozen=True)
class Costs:
    """A rough count of a forward pass's work, in FLOPs, to decide whether sharing a prefix pays."""

    dense: float  # per token through the decoder layers: 2 × their weights
    pair: float  # per query-key pair of attention: QKᵀ and PV over all layers and heads
    call: float  # fixed cost of one forward call (Python, kernel launches): see _CALL_PER_LAYER

    @classmethod
    def of(cls, model: Any) -> Costs:
        config = model.config.get_text_config()
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        weights = sum(p.numel() for p in model.get_decoder().parameters())
        weights -= model.get_input_embeddings().weight.numel()
        return cls(2.0 * weights, 4.0 * layers * heads * head_dim, _CALL_PER_LAYER * layers)

    def run(self, rows: int, start: int, end: int, chunks: int) -> float:
        """Positions [start, end) of `rows` sequences in `chunks` equal calls after `start` cached."""
        if end <= start:
            return 0.0
        bounds = _bounds(start, end, chunks)
        pairs = 0.0
        for a, z in itertools.pairwise(bounds):
            if a == 0:
                pairs += z * (z + 1) / 2  # the causal flag: the triangle only
            elif z - a == 1:
                pairs += z  # one query: no mask
            else:
                pairs += _MASKED * (z - a) * z
        return (len(bounds) - 1) * self.call + rows * (self.dense * (end - start) + self.pair * pairs)

    def chunks(self, rows: int, start: int, end: int) -> int:
        """Calls to cut [start, end) into after `start` cached: the fewest that keep the mask small,
        else as many as balance the masked squares' waste against the calls' fixed cost."""
        tokens = end - start
        if start == 0 or tokens <= 1:
            return 1
        least = -(-rows * tokens * end // _MASK_ELEMENTS)
        best = math.sqrt(rows * self.pair * _MASKED * tokens * tokens / (2 * self.call))
        return max(1, min(tokens, max(least, round(best))))

    def sharing(self, rows: int, n: int, shared: int, have: int) -> tuple[int, int] | None:
        """(prefix calls, tail calls) when computing the `shared` prefix once (from `have` already
        cached) saves enough over plain batching of `rows` prompts of `n` tokens, else None."""
        p = self.chunks(1, have, shared)
        t = self.chunks(rows, shared, n - 1)
        cost = self.run(1, have, shared, p) + self.run(rows, shared, n - 1, t) + self.run(rows, n - 1, n, 1)
        return (p, t) if cost <= _MARGIN * self.run(rows, 0, n, 1) else None


def _bounds(start: int, end: int, chunks: int) -> list[int]:
    return sorted({start + (end - start) * k // chunks for k in range(chunks + 1)})


def _forward(model: Any, cache: Any, ids: torch.Tensor, start: int, end: int, chunks: int) -> None:
    """Run positions [start, end) of `ids` through the decoder into `cache` (which holds [0, start)),
    in `chunks` calls; no logits (only the cache is wanted)."""
    decoder = model.get_decoder()
    for a, z in itertools.pairwise(_bounds(start, end, chunks)):
        decoder(input_ids=ids[:, a:z], past_key_values=cache, use_cache=True)


class PrefixSharing:
    """Computing once the prefix that a batch's prompts share.

    Batching: the prompts of one length are cut into as many batches as plain batching makes, so
    decoding costs the same, grouped so that the tokens shared within batches are most
    (`shared_prefix_batches`: NIAH's deepest needles together, then the shallower ones).

    A batch: its common prefix is computed at batch size 1 — or cut back from the previous batch's
    prefix where that one extends it, as it does when batches go from deep needles to shallow ones
    — copied into every row's cache, and the rows' tails run through the decoder; `generate` then
    starts from the last prompt token. A tail after cached keys cannot use attention's causal flag
    (it is aligned top-left), so transformers passes a mask and the kernel computes the whole
    query × key rectangle: the tail goes in chunks, each wasting half of its own square only. The
    result is the same as plain batching (a test checks it, and the benchmarks on NIAH and
    passkey), the work is less, and a batch is shared only when `Costs` says it saves a tenth.
    """

    def __init__(self, model: Any, rows: list[list[int]], new_tokens: int) -> None:
        self.model, self.rows, self.new_tokens = model, rows, new_tokens
        self.costs = Costs.of(model)
        self.prefix: Any = None  # KV cache (batch size 1) of `prefix_ids`
        self.prefix_ids: list[int] = []

    def batches(self, items: list[int], size: int) -> list[list[int]]:
        return shared_prefix_batches(self.rows, items, size)

    def cache_for(self, batch: list[int], ids: torch.Tensor) -> tuple[Any, int]:
        """The batch's KV cache, holding all but the last prompt token when a prefix is shared (else
        empty), and how many prompt tokens it leaves to compute or computed."""
        n_rows, n = ids.shape
        first = self.rows[batch[0]]
        shared = min([_common_prefix(first, self.rows[i]) for i in batch[1:]] + [n - 1])
        have = _common_prefix(self.prefix_ids, first[:shared]) if self.prefix is not None else 0
        have = have if have >= _MIN_SHARED_PREFIX else 0
        plan = self.costs.sharing(n_rows, n, shared, have) if shared >= _MIN_SHARED_PREFIX else None
        cache = kv_cache(self.model, n + self.new_tokens)
        if plan is None:
            return cache, ids.numel()
        try:
            self._extend_prefix(ids[:1], shared, have, plan[0])
            for layer, source in zip(cache.layers, self.prefix.layers, strict=True):
                layer.update(source.keys.expand(n_rows, -1, -1, -1), source.values.expand(n_rows, -1, -1, -1))
            _forward(self.model, cache, ids, shared, n - 1, plan[1])
        except BaseException:
            self.prefix, self.prefix_ids = None, []  # perhaps half extended: start afresh next time
            raise
        return cache, (shared - have) + n_rows * (n - shared)

    def _extend_prefix(self, first: torch.Tensor, shared: int, have: int, chunks: int) -> None:
        if have == 0:
            self.prefix = kv_cache(self.model, first.shape[1])
        else:
            self.prefix.crop(have - self.prefix.get_seq_length())  # negative: drop what is not shared
        _forward(self.model, self.prefix, first, have, shared, chunks)
        self.prefix_ids = first[0, :shared].tolist()


def shared_prefix_batches(rows: Sequence[list[int]], items: list[int], size: int) -> list[list[int]]:
    """`items` (indices of equal-length `rows`) in ⌈n / size⌉ batches of at most `size`, grouped so
    that the tokens the batches' rows share with each other, Σ (rows − 1) × common prefix, are most.

    Rows are ordered by how long a prefix each shares with any other (then lexicographically): for
    prompts that differ from their needle on, that is deepest needle first, and any run of that
    order shares the prefix of its shallowest needle. A dynamic programme then picks where to cut
    the order. The common prefix of any two rows is the least common prefix of lexicographic
    neighbours between them (a range minimum), so only n − 1 prefixes are ever compared.
    """
    n = len(items)
    k = -(-n // size)
    if k <= 1:
        return [list(items)] if items else []
    lex = sorted(items, key=lambda i: rows[i])
    rank = {i: t for t, i in enumerate(lex)}
    neighbours = [_common_prefix(rows[a], rows[b]) for a, b in itertools.pairwise(lex)]
    reach = {i: max(neighbours[max(t - 1, 0)], neighbours[min(t, n - 2)]) for t, i in enumerate(lex)}
    order = sorted(items, key=lambda i: (-reach[i], rank[i]))
    common = _RangeMin(neighbours)
    # best[(j, m)]: (tokens shared, where the last batch starts) for order[:j] in m batches
    best: dict[tuple[int, int], tuple[int, int]] = {(0, 0): (0, 0)}
    for j in range(1, n + 1):
        last = rank[order[j - 1]]
        shared = len(rows[order[j - 1]])
        for i in range(j - 1, max(-1, j - size - 1), -1):
            if i < j - 1:
                r = rank[order[i]]
                shared = min(shared, common.query(min(r, last), max(r, last)))
            gain = (j - i - 1) * shared if j - i > 1 else 0
            for m in range(max(1, -(-j // size)), k - (-(-(n - j) // size)) + 1):
                prev = best.get((i, m - 1))
                if prev is not None and (best.get((j, m)) is None or prev[0] + gain > best[(j, m)][0]):
                    best[(j, m)] = (prev[0] + gain, i)
    out = []
    j, m = n, k
    while j > 0:
        i = best[(j, m)][1]
        out.append(order[i:j])
        j, m = i, m - 1
    return out[::-1]


class _RangeMin:
    """Minimum of any range of a fixed list in O(1), after O(n log n) preparation (a sparse table)."""

    def __init__(self, values: list[int]) -> None:
        self.levels = [list(values)]
        width = 1
        while 2 * width <= len(values):
            prev = self.levels[-1]
            self.levels.append([min(prev[i], prev[i + width]) for i in range(len(prev) - width)])
            width *= 2

    def query(self, lo: int, hi: int) -> int:
        """min(values[lo:hi]), lo < hi."""
        level = (hi - lo).bit_length() - 1
        row = self.levels[level]
        return min(row[lo], row[hi - (1 << level)])


def _common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix, by bisection on slices (compared in C, not per token)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # a[:lo] == b[:lo]; no common prefix is longer than hi
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
