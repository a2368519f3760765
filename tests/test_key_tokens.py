"""Key-token perplexity (LongPPL) against its definition computed with plain transformers forwards:
which tokens are key, their perplexity under the evaluated model, and the same set for every method."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from longctx_eval_tasks.perplexity import Perplexity, PerplexityParams
from transformers import AutoConfig, AutoModelForCausalLM

from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.data import load_documents
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.task import CellContext, TaskEnv, TaskParamError
from longctx_eval.worker import BackendModels

ENV = TaskEnv(resolve_path=Path)
LENGTH = 200  # the tiny model's native context is 64: C = 64, K = 16, W = 4, long stride 16
GAIN, MAX_NLL = 0.05, 50.0  # a random tiny model gains little from context: thresholds that find some


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    b = HFBackend(HFConfig(batch_size=4, nll_chunk_tokens=50))
    b.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    return b


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """Another seeded tiny model with the same tokenizer and a longer native context (an evaluator)."""
    from longctx_eval.tiny import save_tiny_model

    directory = tmp_path_factory.mktemp("evaluator") / "model"
    return save_tiny_model(directory, tokenizer, seed=1, max_position_embeddings=256, heads=2, kv_heads=1)


def cell(backend: HFBackend, spec: ScalingSpec, model_cache: dict[str, Any] | None = None) -> CellContext:
    base = read_rope_base(backend.config)
    setting = spec.resolve(base)
    ctx = CellContext(
        length=LENGTH,
        seed=3,
        lm=backend.apply(setting),
        prompts=PromptFormat(backend.tokenizer),
        length_dependent=setting.length_dependent,
        model_cache={} if model_cache is None else model_cache,
        original_context=base.original_context,
    )
    ctx.models = BackendModels(backend, backend.cfg, base, setting, LENGTH + 1)
    return ctx


def params(docs_file: Path, **kw: Any) -> PerplexityParams:
    return PerplexityParams(
        dataset=str(docs_file), documents=2, mode="key_tokens", key_gain=GAIN, key_max_nll=MAX_NLL, **kw
    )


def model_with(model_dir: Path, spec: ScalingSpec) -> Any:
    base = read_rope_base(AutoConfig.from_pretrained(model_dir))
    s = spec.resolve(base)
    config = AutoConfig.from_pretrained(
        model_dir, rope_parameters=s.rope_parameters, max_position_embeddings=s.max_position_embeddings
    )
    return AutoModelForCausalLM.from_pretrained(model_dir, config=config).eval()


def nll_with_context(model: Any, ids: list[int], start_of: Any) -> np.ndarray:
    """NLL of every token p >= 1 given tokens start_of(p)..p-1: one plain forward per context start."""
    out = np.zeros(len(ids) - 1)
    by_start: dict[int, list[int]] = {}
    for p in range(1, len(ids)):
        by_start.setdefault(start_of(p), []).append(p)
    for start, positions in by_start.items():
        x = torch.tensor([ids[start : max(positions) + 1]])
        with torch.no_grad():
            logp = torch.log_softmax(model(x).logits[0].double(), dim=-1)
        for p in positions:
            out[p - 1] = -logp[p - 1 - start, ids[p]].item()
    return out


def expected_key_tokens(
    evaluator: Any, ids: list[int], c: int, k: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """LongPPL's rule, from its definition: key when NLL(short) − NLL(long) > gain and NLL(long) < max.

    Long: windows of C tokens every S = max(W, C/4) tokens, each token scored in the window whose last
    S positions hold it (all from 0 when it falls in the first window). Short: windows of K + W every W.
    Returns (mask over tokens 1…, |diff − gain| margin) so borderline tokens can be told apart.
    """
    s = max(w, c // 4)
    long_nll = nll_with_context(evaluator, ids, lambda p: 0 if p < c else s * ((p - c + s) // s))
    short_nll = nll_with_context(evaluator, ids, lambda p: 0 if p < k + w else w * ((p - k) // w))
    gain = short_nll - long_nll
    mask = (gain > GAIN) & (long_nll < MAX_NLL)
    return mask, np.abs(gain - GAIN)


def doc_sequences(tokenizer: Any, docs_file: Path, n: int) -> list[list[int]]:
    docs = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in load_documents(str(docs_file))]
    long_enough = [d for d in docs if len(d) >= LENGTH - 1][:n]
    return [[tokenizer.bos_token_id, *d[: LENGTH - 1]] for d in long_enough]


def test_key_tokens_follow_the_definition_with_the_model_itself_as_evaluator(
    backend: HFBackend, tiny_model_dir: Path, docs_file: Path
):
    out = Perplexity(params(docs_file), ENV).run(cell(backend, ScalingSpec("none")))
    assert out.status == "ok", out.reason
    m = out.metrics
    assert (m.evaluator_context, m.key_short_context, m.key_stride) == (64, 16, 4)
    evaluator = model_with(tiny_model_dir, ScalingSpec("none"))
    key_nll, rest_nll, n_key = [], [], 0
    for seq, sample in zip(doc_sequences(backend.tokenizer, docs_file, 2), out.samples, strict=True):
        mask, margin = expected_key_tokens(evaluator, seq, 64, 16, 4)
        got = np.zeros_like(mask)
        got[np.asarray(sample.key_positions, dtype=int) - 1] = True
        clear = margin > 1e-6  # float noise may flip a token sitting on the threshold itself
        assert (got[clear] == mask[clear]).all()
        assert mask.any() and not mask.all()
        # The evaluated model (here: unscaled) scores every token with its full context.
        full = nll_with_context(evaluator, seq, lambda p: 0)
        key_nll += list(full[got])
        rest_nll += list(full[~got])
        n_key += int(got.sum())
        assert sample.n_scored_tokens == int(got.sum())
        assert sample.nll_sum == pytest.approx(full[got].sum(), rel=1e-5)
    assert m.n_key_tokens == n_key == m.n_tokens
    assert m.ppl == pytest.approx(math.exp(np.mean(key_nll)), rel=1e-5)
    assert m.ppl_rest == pytest.approx(math.exp(np.mean(rest_nll)), rel=1e-5)
    assert m.ppl_all == pytest.approx(math.exp(np.mean(key_nll + rest_nll)), rel=1e-5)
    assert m.key_fraction == pytest.approx(n_key / (2 * (LENGTH - 1)))


def test_every_method_is_scored_on_the_same_key_tokens(
    backend: HFBackend, tiny_model_dir: Path, docs_file: Path
):
    task = Perplexity(params(docs_file), ENV)
    runs = {}
    shared: dict[str, Any] = {}
    for spec in (
        ScalingSpec("none"),
        ScalingSpec("yarn", 4.0),
        ScalingSpec("pi", 4.0),
        ScalingSpec("dynamic_ntk", 2.0),
    ):
        alone = task.run(cell(backend, spec))  # its own model cache: the set is recomputed...
        again = task.run(cell(backend, spec, shared))  # ... or shared with the other methods
        assert [s.key_positions for s in alone.samples] == [s.key_positions for s in again.samples]
        runs[spec.label()] = alone
    positions = {label: [s.key_positions for s in r.samples] for label, r in runs.items()}
    assert len({str(p) for p in positions.values()}) == 1
    # The scores differ by method, on the same tokens: pi@4 against a direct forward with its rope.
    pi = model_with(tiny_model_dir, ScalingSpec("pi", 4.0))
    seqs = doc_sequences(backend.tokenizer, docs_file, 2)
    nll = [nll_with_context(pi, seq, lambda p: 0) for seq in seqs]
    key = np.concatenate(
        [n[np.asarray(p, dtype=int) - 1] for n, p in zip(nll, positions["pi@4"], strict=True)]
    )
    assert runs["pi@4"].metrics.ppl == pytest.approx(math.exp(key.mean()), rel=1e-5)
    assert runs["pi@4"].metrics.ppl != runs["none"].metrics.ppl  # (a random model: barely)


def test_another_evaluator_and_its_context(backend: HFBackend, other_model_dir: Path, docs_file: Path):
    out = Perplexity(params(docs_file, evaluator=str(other_model_dir)), ENV).run(
        cell(backend, ScalingSpec("none"))
    )
    assert out.status == "ok" and out.samples[0].evaluator == str(other_model_dir)
    # C = min(its 256, the length 200): one long pass; K = 50, W = 12.
    assert (
        out.metrics.evaluator_context,
        out.metrics.key_short_context,
        out.metrics.key_stride,
    ) == (200, 50, 12)
    evaluator = model_with(other_model_dir, ScalingSpec("none"))
    for seq, sample in zip(doc_sequences(backend.tokenizer, docs_file, 2), out.samples, strict=True):
        mask, margin = expected_key_tokens(evaluator, seq, 200, 50, 12)
        got = np.zeros_like(mask)
        got[np.asarray(sample.key_positions, dtype=int) - 1] = True
        assert (got[margin > 1e-6] == mask[margin > 1e-6]).all()
    forced = Perplexity(
        params(
            docs_file, evaluator=str(other_model_dir), evaluator_context=64, key_short_context=8, key_stride=8
        ),
        ENV,
    ).run(cell(backend, ScalingSpec("none")))
    assert (
        forced.metrics.evaluator_context,
        forced.metrics.key_short_context,
        forced.metrics.key_stride,
    ) == (
        64,
        8,
        8,
    )


def test_an_evaluator_with_another_tokenizer_is_refused(backend: HFBackend, tmp_path: Path, docs_file: Path):
    from longctx_eval.tiny import save_tiny_model, train_tokenizer

    other = save_tiny_model(tmp_path / "m", train_tokenizer(["a b c d e f g"] * 20, vocab_size=300), seed=2)
    with pytest.raises(TaskParamError, match="another tokenizer"):
        Perplexity(params(docs_file, evaluator=str(other)), ENV).run(cell(backend, ScalingSpec("none")))


def test_no_key_token_is_a_skip_that_says_so(backend: HFBackend, docs_file: Path):
    p = PerplexityParams(dataset=str(docs_file), documents=2, mode="key_tokens", key_gain=1e9)
    out = Perplexity(p, ENV).run(cell(backend, ScalingSpec("none")))
    assert out.status == "skipped" and "no key token in 2 documents" in (out.reason or "")


def test_under_protocol_longppl_the_evaluator_sees_the_whole_document(
    backend: HFBackend, tiny_model_dir: Path, docs_file: Path
):
    # LongPPL: C = the whole sequence (past the evaluator's trained 64 here), K = 4096 and W = 1024
    # unless given (here K, W given small, since the tiny documents are shorter than 4096 tokens).
    p = PerplexityParams(
        dataset=str(docs_file),
        documents=2,
        protocol="longppl",
        evaluator=str(tiny_model_dir),
        key_gain=GAIN,
        key_max_nll=MAX_NLL,
        key_short_context=50,
        key_stride=12,
    )
    assert p.mode == "key_tokens"
    out = Perplexity(p, ENV).run(cell(backend, ScalingSpec("none")))
    assert out.status == "ok"
    assert (
        out.metrics.evaluator_context,
        out.metrics.key_short_context,
        out.metrics.key_stride,
    ) == (
        LENGTH,
        50,
        12,
    )
    evaluator = model_with(tiny_model_dir, ScalingSpec("none"))
    for seq, sample in zip(doc_sequences(backend.tokenizer, docs_file, 2), out.samples, strict=True):
        mask, margin = expected_key_tokens(evaluator, seq, LENGTH, 50, 12)
        got = np.zeros_like(mask)
        got[np.asarray(sample.key_positions, dtype=int) - 1] = True
        assert (got[margin > 1e-6] == mask[margin > 1e-6]).all()
    from longctx_eval_tasks.perplexity_key_tokens import key_settings

    bare = PerplexityParams(dataset=str(docs_file), protocol="longppl", evaluator="x")
    assert key_settings(bare, 64, 10_000) == (10_000, 4096, 1024)


def test_protocol_longppl_needs_a_separate_evaluator(docs_file: Path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="protocol longppl needs evaluator"):
        PerplexityParams(dataset=str(docs_file), protocol="longppl")
    with pytest.raises(ValidationError, match="mode must be key_tokens"):
        PerplexityParams(dataset=str(docs_file), protocol="longppl", evaluator="x", mode="truncate")
