"""The HF backend against direct transformers computations."""

from __future__ import annotations

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


def test_nll_never_builds_full_logits(backend: HFBackend):
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    backend._head_checked = True  # the once-per-model check runs a 16-token forward; keep it out of the count
    rows: list[int] = []
    head = backend.model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[-2]))
    try:
        lm.token_nll([list(range(3, 203))])
    finally:
        handle.remove()
    assert rows and max(rows) <= backend.cfg.nll_chunk_tokens
    assert sum(rows) == 199


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


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[4], SPECS[3]], ids=lambda s: s.label())
def test_prefix_reuse_computes_less_and_changes_nothing(backend: HFBackend, spec: ScalingSpec):
    prompts = niah_prompts(backend.tokenizer, 300, 6)
    setting = spec.resolve(read_rope_base(backend.config))
    lm = backend.apply(setting)
    before = (backend.prompt_tokens, backend.prefill_tokens)
    shared = lm.generate(prompts, max_new_tokens=8)
    computed = backend.prefill_tokens - before[1]
    assert backend.prompt_tokens - before[0] == 6 * 300
    object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"prefix_reuse": False}))
    try:
        plain = backend.apply(setting).generate(prompts, max_new_tokens=8)
    finally:
        object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"prefix_reuse": True}))
    assert [g.token_ids for g in shared] == [g.token_ids for g in plain]
    if spec.method == "dynamic_ntk":
        assert computed == 6 * 300  # length-dependent rope: no reuse
    else:
        assert computed < 0.75 * 6 * 300


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
