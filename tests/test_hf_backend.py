"""The HF backend against direct transformers computations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.rope.longrope_factors import yarn_derived_factors
from longctx_eval.rope.methods import Llama3Params, PRopeParams, YarnParams

SPECS = [
    ScalingSpec("none"),
    ScalingSpec("pi", 2.0),
    ScalingSpec("ntk", 4.0),
    ScalingSpec("dynamic_ntk", 2.0),
    ScalingSpec("yarn", 4.0, YarnParams()),
    ScalingSpec("llama3", 4.0, Llama3Params()),
    ScalingSpec("p_rope", params=PRopeParams(p=0.5)),
]


def longrope_spec(model_dir: Path) -> ScalingSpec:
    config = AutoConfig.from_pretrained(model_dir)
    factors = yarn_derived_factors(config, read_rope_base(config), 4.0)
    return ScalingSpec("longrope", 4.0, factors.params("test"))


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    b = HFBackend(HFConfig(batch_size=2, nll_chunk_tokens=7))
    b.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    return b


def fresh_logits(model_dir: Path, spec: ScalingSpec, ids: torch.Tensor) -> torch.Tensor:
    """A fresh from_pretrained whose config carries the method's settings (built by transformers)."""
    base = read_rope_base(AutoConfig.from_pretrained(model_dir))
    setting = spec.resolve(base)
    config = AutoConfig.from_pretrained(
        model_dir,
        rope_parameters=setting.rope_parameters,
        max_position_embeddings=setting.max_position_embeddings,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, config=config, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(ids).logits


def swapped_logits(backend: HFBackend, spec: ScalingSpec, ids: torch.Tensor) -> torch.Tensor:
    backend.apply(spec.resolve(read_rope_base(backend.config)))
    with torch.no_grad():
        return backend.model(ids).logits


def test_rotary_swap_gives_the_logits_of_a_fresh_load(backend: HFBackend, tiny_model_dir: Path):
    ids = torch.randint(3, 400, (1, 150), generator=torch.Generator().manual_seed(0))
    specs = [*SPECS, longrope_spec(tiny_model_dir)]
    # Swap through every method twice, in two orders: no state may leak from one to the next.
    for spec in specs + specs[::-1]:
        expected = fresh_logits(tiny_model_dir, spec, ids)
        got = swapped_logits(backend, spec, ids)
        assert torch.equal(got, expected), spec.label()
    assert backend.weight_loads == 1


def test_methods_really_change_the_logits(backend: HFBackend):
    ids = torch.randint(3, 400, (1, 150), generator=torch.Generator().manual_seed(1))
    base = swapped_logits(backend, ScalingSpec("none"), ids)
    for spec in SPECS[1:]:
        assert not torch.allclose(swapped_logits(backend, spec, ids), base), spec.label()


def direct_nll(model: Any, seq: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = model(torch.tensor([seq])).logits[0].double()
    logp = torch.log_softmax(logits[:-1], dim=-1)
    return -logp.gather(1, torch.tensor(seq[1:])[:, None])[:, 0]


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[3], SPECS[4]], ids=lambda s: s.label())
def test_chunked_nll_equals_a_direct_forward(backend: HFBackend, spec: ScalingSpec):
    lm = backend.apply(spec.resolve(read_rope_base(backend.config)))
    g = torch.Generator().manual_seed(2)
    seqs = [torch.randint(3, 400, (n,), generator=g).tolist() for n in (100, 100, 100, 37)]
    got = lm.token_nll(seqs, score_from=[1, 1, 50, 5])
    for seq, nll, start in zip(seqs, got, [1, 1, 50, 5], strict=True):
        expected = direct_nll(backend.model, seq)[start - 1 :].numpy()
        assert nll.shape == expected.shape
        assert nll == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("path", ["buffers", "general"])
def test_nll_never_builds_full_logits(backend: HFBackend, monkeypatch: pytest.MonkeyPatch, path: str):
    from longctx_eval.backends import hf

    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    backend._head_checked = True  # the once-per-model check runs a 16-token forward; keep it out of the count
    rows: list[int] = []
    if path == "general":  # the output head itself, as for a head with a bias or soft-capping
        monkeypatch.setattr(hf.HFLanguageModel, "_chunk_buffers", lambda self, hidden, n: None)
        head = backend.model.get_output_embeddings()
        handle = head.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[-2]))
    else:  # the reused buffers of a plain float32 head on a CPU
        original = hf._nll_into
        monkeypatch.setattr(hf, "_nll_into", lambda h, *a: rows.append(h.shape[0]) or original(h, *a))
    try:
        lm.token_nll([list(range(3, 203))])
    finally:
        if path == "general":
            handle.remove()
    assert rows and max(rows) <= backend.cfg.nll_chunk_tokens
    assert sum(rows) == 199


def test_nll_through_reused_buffers_is_bit_for_bit_the_general_path(
    backend: HFBackend, monkeypatch: pytest.MonkeyPatch
):
    """The chunk buffers change where logits are written, not a bit of the NLLs."""
    from longctx_eval.backends import hf

    lm = backend.apply(ScalingSpec("yarn", 4.0, YarnParams()).resolve(read_rope_base(backend.config)))
    g = torch.Generator().manual_seed(8)
    seqs = [torch.randint(3, 400, (n,), generator=g).tolist() for n in (150, 150, 61)]
    fast = lm.token_nll(seqs, score_from=[1, 40, 3])
    monkeypatch.setattr(hf.HFLanguageModel, "_chunk_buffers", lambda self, hidden, n: None)
    general = lm.token_nll(seqs, score_from=[1, 40, 3])
    for a, b in zip(fast, general, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all()


def test_dynamic_ntk_does_not_depend_on_the_previous_request(backend: HFBackend):
    lm = backend.apply(ScalingSpec("dynamic_ntk", 2.0).resolve(read_rope_base(backend.config)))
    short = list(range(5, 125))
    long = list(range(5, 205))
    first = lm.token_nll([short])[0]
    lm.token_nll([long])  # grows transformers' cached length to 200
    again = lm.token_nll([short])[0]
    assert again == pytest.approx(first, rel=1e-6)


def greedy_by_hand(model: Any, prompt: list[int], n: int, eos: int) -> list[int]:
    seq = list(prompt)
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(torch.tensor([seq])).logits[0, -1].argmax())
            if nxt == eos:
                break
            out.append(nxt)
            seq.append(nxt)
    return out


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[1], SPECS[4]], ids=lambda s: s.label())
def test_generate_is_greedy(backend: HFBackend, spec: ScalingSpec):
    lm = backend.apply(spec.resolve(read_rope_base(backend.config)))
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(3, 400, (90,), generator=g).tolist() for _ in range(3)]
    outs = lm.generate(prompts, max_new_tokens=6)
    eos = backend.tokenizer.eos_token_id
    for prompt, out in zip(prompts, outs, strict=True):
        assert out.token_ids == greedy_by_hand(backend.model, prompt, 6, eos)
        assert out.text == backend.tokenizer.decode(out.token_ids, skip_special_tokens=True)


def niah_prompts(tokenizer: Any, length: int, depths: int) -> list[list[int]]:
    from longctx_eval_tasks.niah import NiahParams, depth_grid

    from longctx_eval.haystack import Haystack, PromptParts, build_prompt
    from longctx_eval.prompts import PromptFormat

    p, fmt = NiahParams(), PromptFormat(tokenizer)
    prompts = []
    for k, d in enumerate(depth_grid(depths, "linear")):
        key, value = f"calm-river{k % 2}", str(1000000 + 7919 * k)
        parts = PromptParts(
            p.instruction,
            p.needle.format(key=key, value=value),
            p.question.format(key=key),
            p.answer_prefix.format(key=key),
        )
        prompts.append(build_prompt(fmt, Haystack.noise(), parts, length, d).ids)
    return prompts


def plain_batched(backend: HFBackend, prompts: list[list[int]], n: int) -> list[list[int]]:
    """transformers' own batched greedy generate (its DynamicCache), batches in the given order."""
    eos = backend.tokenizer.eos_token_id
    out: list[list[int]] = []
    with torch.no_grad():
        for k in range(0, len(prompts), backend.cfg.batch_size):
            ids = torch.tensor(prompts[k : k + backend.cfg.batch_size])
            seqs = backend.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=n,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=eos,
            )
            for row in seqs[:, ids.shape[1] :].tolist():
                out.append(row[: row.index(eos)] if eos in row else row)
    return out


@pytest.fixture
def always_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share every batch's prefix, whatever the count of work says (the tiny model's forward calls
    cost more than the tokens they save, so the default would rarely share on it)."""
    from longctx_eval.backends import hf, prefix_sharing

    monkeypatch.setattr(prefix_sharing, "_MARGIN", float("inf"))
    monkeypatch.setattr(hf, "contended", lambda: False)


def with_reuse(backend: HFBackend, on: bool) -> None:
    object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"prefix_reuse": on}))


@pytest.mark.parametrize("forced", [False, True], ids=["default", "always-shared"])
@pytest.mark.parametrize("kind", ["niah", "random"])
def test_default_generation_equals_plain_batched_generation(
    backend: HFBackend, monkeypatch: pytest.MonkeyPatch, kind: str, forced: bool
):
    """The default path (prefix sharing, in-place KV cache) gives what transformers' plain batched
    generate gives, token for token: with and without sharing, on prompts that share prefixes
    (NIAH at several depths) and on prompts that do not."""
    if forced:
        from longctx_eval.backends import hf, prefix_sharing

        monkeypatch.setattr(prefix_sharing, "_MARGIN", float("inf"))
        monkeypatch.setattr(hf, "contended", lambda: False)
    assert backend.cfg.prefix_reuse  # the default
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    g = torch.Generator().manual_seed(5)
    if kind == "niah":
        prompts = niah_prompts(backend.tokenizer, 300, 7)
    else:
        prompts = [torch.randint(3, 400, (120,), generator=g).tolist() for _ in range(5)]
    before = backend.prefill_tokens
    got = [x.token_ids for x in lm.generate(prompts, max_new_tokens=8)]
    computed = backend.prefill_tokens - before
    assert got == plain_batched(backend, prompts, 8)
    if forced and kind == "niah":
        assert computed < 0.8 * 7 * 300  # shared prefixes were really computed once
    if kind == "random":
        assert computed == 5 * 120  # nothing shared


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[4], SPECS[3]], ids=lambda s: s.label())
def test_prefix_reuse_computes_less_and_changes_nothing(
    backend: HFBackend, spec: ScalingSpec, always_share: None
):
    prompts = niah_prompts(backend.tokenizer, 300, 6)
    setting = spec.resolve(read_rope_base(backend.config))
    lm = backend.apply(setting)
    before = (backend.prompt_tokens, backend.prefill_tokens)
    shared = lm.generate(prompts, max_new_tokens=8)
    computed = backend.prefill_tokens - before[1]
    assert backend.prompt_tokens - before[0] == 6 * 300
    with_reuse(backend, False)
    try:
        plain = backend.apply(setting).generate(prompts, max_new_tokens=8)
    finally:
        with_reuse(backend, True)
    assert [g.token_ids for g in shared] == [g.token_ids for g in plain]
    if spec.method == "dynamic_ntk":
        assert computed == 6 * 300  # length-dependent rope: no reuse
    else:  # three batches of two (as many as plain batching): depths 1 and 0.8, 0.6 and 0.4, ...
        assert computed < 0.8 * 6 * 300


def test_spinning_threads_beside_other_work_turn_sharing_off(
    backend: HFBackend, monkeypatch: pytest.MonkeyPatch, always_share: None
):
    """The contention guard: with spinning OpenMP threads and other processes keeping a core
    busy, every prompt is computed whole (plain batching), and the tokens are the same; with
    PASSIVE waiting, or no other work, sharing goes on."""
    from longctx_eval import threads
    from longctx_eval.backends import hf, prefix_sharing

    monkeypatch.setattr(hf, "contended", prefix_sharing.contended)  # the real guard, not the fixture's
    prompts = niah_prompts(backend.tokenizer, 300, 6)
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    expected = plain_batched(backend, prompts, 6)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    computed = {}
    for policy, others in [("ACTIVE", 1.0), ("ACTIVE", 0.1), ("PASSIVE", 1.0)]:
        monkeypatch.setenv(threads.WAIT_ENV, policy)
        monkeypatch.setattr(prefix_sharing._OTHERS, "busy_cores", lambda others=others: others)
        before = backend.prefill_tokens
        assert [g.token_ids for g in lm.generate(prompts, max_new_tokens=6)] == expected
        computed[policy, others] = backend.prefill_tokens - before
    assert computed["ACTIVE", 1.0] == 6 * 300
    assert computed["ACTIVE", 0.1] < 0.8 * 6 * 300 and computed["PASSIVE", 1.0] < 0.8 * 6 * 300


def test_other_work_is_the_machine_busy_time_less_our_own(monkeypatch: pytest.MonkeyPatch):
    """Cores others used = (machine busy seconds − this process's CPU seconds) / wall seconds,
    from one look to the next; looks closer than the window keep the last figure."""
    from longctx_eval.threads import OtherWork

    samples = iter([(0.0, 100.0, 5.0), (1.0, 102.0, 6.5), (1.05, 103.0, 6.6), (3.0, 106.0, 8.0)])
    work = OtherWork(window=0.1)
    monkeypatch.setattr(work, "_sample", lambda: next(samples))
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert work.busy_cores() == pytest.approx(0.5)  # first look: (2 − 1.5) / 1
    assert work.busy_cores() == pytest.approx(0.5)  # 50 ms later: kept
    assert work.busy_cores() == pytest.approx((4.0 - 1.5) / 2.0)
    real = OtherWork(window=0.05).busy_cores()  # on this machine, really
    assert real is None or 0.0 <= real <= (os.cpu_count() or 1) + 0.5


def test_a_batch_size_of_one_reuses_the_previous_prompt_prefix(backend: HFBackend, always_share: None):
    """With one prompt per batch nothing is shared within a batch; the prefix kept from the
    previous batch is cut back and reused (deepest needle first, each prefix extends the next)."""
    prompts = niah_prompts(backend.tokenizer, 300, 5)
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"batch_size": 1}))
    try:
        before = backend.prefill_tokens
        got = [x.token_ids for x in lm.generate(prompts, max_new_tokens=6)]
        computed = backend.prefill_tokens - before
        expected = plain_batched(backend, prompts, 6)
    finally:
        object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"batch_size": 2}))
    assert got == expected
    assert computed < 0.8 * 5 * 300


def test_the_in_place_cache_is_written_once_and_gives_the_same_tokens(backend: HFBackend):
    """Decoding writes into one buffer allocated for the request (no copy of the cache per step)."""
    from longctx_eval.backends.kv_cache import kv_cache

    ids = torch.randint(3, 400, (2, 80), generator=torch.Generator().manual_seed(6))
    cache = kv_cache(backend.model, 80 + 10)
    buffers: set[int] = set()
    layer = cache.layers[0]
    original = layer.update

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        buffers.add(out[0].data_ptr())
        return out

    layer.update = spy
    kwargs = {"attention_mask": torch.ones_like(ids), "max_new_tokens": 10, "do_sample": False}
    with torch.no_grad():
        ours = backend.model.generate(input_ids=ids, past_key_values=cache, min_new_tokens=10, **kwargs)
        theirs = backend.model.generate(input_ids=ids, min_new_tokens=10, **kwargs)
    assert torch.equal(ours, theirs)
    assert len(buffers) == 1 and cache.get_seq_length() == 89


def test_the_in_place_cache_keeps_its_size_after_a_reorder(backend: HFBackend):
    """A reorder (beam search) replaces the keys with a copy: the next write goes back into a
    buffer of the planned size, not one twice as large at every step."""
    from longctx_eval.backends.kv_cache import kv_cache

    layer = kv_cache(backend.model, 12).layers[0]
    k = torch.randn(2, 1, 5, 4)
    layer.update(k, k.clone())
    for step in range(4):
        layer.reorder_cache(torch.tensor([1, 0]))
        layer.update(torch.randn(2, 1, 1, 4), torch.randn(2, 1, 1, 4))
        assert layer._buffers[0].shape[-2] == 12 and layer.get_seq_length() == 6 + step
    assert torch.equal(layer.keys[:, :, :5], k)  # two swaps cancel out on the prompt's keys


def test_a_model_that_names_its_own_cache_still_generates(backend: HFBackend):
    """transformers refuses a cache passed beside the generation config's `cache_implementation`:
    such a model generates with its own cache, unshared, and the same tokens."""
    prompts = niah_prompts(backend.tokenizer, 300, 3)
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    expected = [g.token_ids for g in lm.generate(prompts, max_new_tokens=6)]
    backend.model.generation_config.cache_implementation = "dynamic"
    try:
        got = [g.token_ids for g in lm.generate(prompts, max_new_tokens=6)]
    finally:
        backend.model.generation_config.cache_implementation = None
    assert got == expected


def test_shared_prefix_batches_group_deep_needles_and_keep_the_batch_count():
    from longctx_eval.backends.prefix_sharing import shared_prefix_batches

    # Prompts of 100 tokens that differ from position p on: a needle at depth p.
    depths = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    rows = [[1] * p + [2 + k] + [1] * (99 - p) for k, p in enumerate(depths)]
    items = list(range(len(rows)))
    for size in (1, 2, 3, 4, 8, 11, 20):
        batches = shared_prefix_batches(rows, items, size)
        assert sorted(i for b in batches for i in b) == items
        assert len(batches) == -(-len(rows) // size) and all(len(b) <= size for b in batches)
    # Eight and three: the eight deepest needles together share the 30 tokens before the
    # shallowest of them (a cut in index order shares nothing: depth 0 is in the first batch).
    batches = shared_prefix_batches(rows, items, 8)
    shared = [min(depths[i] for i in b) * (len(b) - 1) for b in batches]
    assert sum(shared) >= 7 * 30 and sorted(map(len, batches)) in ([3, 8], [4, 7], [5, 6])


def test_common_prefix_by_bisection():
    import random

    from longctx_eval.backends.prefix_sharing import _common_prefix

    rng = random.Random(0)
    for _ in range(300):
        a = [rng.randrange(3) for _ in range(rng.randrange(12))]
        b = a[: rng.randrange(len(a) + 1)] + [rng.randrange(3) for _ in range(rng.randrange(5))]
        naive = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        assert _common_prefix(a, b) == naive


class OomAbove:
    """Stands in for a device that runs out of memory beyond `limit` sequences per forward."""

    def __init__(self, forward: Any, limit: int) -> None:
        self.forward, self.limit, self.sizes = forward, limit, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        n = kwargs["input_ids"].shape[0]
        self.sizes.append(n)
        if n > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.forward(*args, **kwargs)


def test_out_of_memory_halves_the_batch_then_gives_up(backend: HFBackend, monkeypatch: pytest.MonkeyPatch):
    from longctx_eval.backends.hf import OutOfMemory
    from longctx_eval.worker import short_error

    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    seqs = [list(range(5 + k, 105 + k)) for k in range(2)]
    expected = lm.token_nll(seqs)
    decoder = backend.model.get_decoder()
    fake = OomAbove(decoder.forward, limit=1)
    monkeypatch.setattr(decoder, "forward", fake)
    got = lm.token_nll(seqs)
    assert fake.sizes == [2, 1, 1]  # a batch of 2 failed, then 1 + 1
    for a, b in zip(got, expected, strict=True):
        assert a == pytest.approx(b, rel=1e-6)
    fake.limit = 0
    with pytest.raises(OutOfMemory) as err:
        lm.token_nll(seqs)
    assert short_error(err.value).startswith("oom: one sequence of 100 tokens does not fit")


def test_generation_out_of_memory_halves_the_batch_and_gives_the_same_tokens(
    backend: HFBackend, monkeypatch: pytest.MonkeyPatch, always_share: None
):
    """Running out of memory midway through a shared prefix's batch: the batches are planned
    again at half the size, the half-built prefix is dropped, and the tokens do not change."""
    prompts = niah_prompts(backend.tokenizer, 200, 4)
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    expected = plain_batched(backend, prompts, 6)
    decoder = backend.model.get_decoder()
    fake = OomAbove(decoder.forward, limit=1)
    monkeypatch.setattr(decoder, "forward", fake)
    got = [x.token_ids for x in lm.generate(prompts, max_new_tokens=6)]
    assert got == expected
    assert max(fake.sizes) == 2 and fake.sizes.count(2) == 1  # one batch of two tried, then ones
