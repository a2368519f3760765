"""Perplexity task against direct transformers computations (model(input_ids, labels=...))."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from longctx_eval_tasks.perplexity import Perplexity, PerplexityParams, sliding_windows
from transformers import AutoConfig, AutoModelForCausalLM

from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.data import load_documents
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.task import CellContext, TaskEnv

ENV = TaskEnv(resolve_path=Path)


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    b = HFBackend(HFConfig(batch_size=3, nll_chunk_tokens=50))
    b.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    return b


def context(backend: HFBackend, spec: ScalingSpec, length: int, **kw: Any) -> CellContext:
    lm = backend.apply(spec.resolve(read_rope_base(backend.config)))
    return CellContext(
        length=length,
        seed=5,
        lm=lm,
        prompts=PromptFormat(backend.tokenizer),
        length_dependent=spec.resolve(read_rope_base(backend.config)).length_dependent,
        **kw,
    )


def direct_model(model_dir: Path, spec: ScalingSpec) -> Any:
    base = read_rope_base(AutoConfig.from_pretrained(model_dir))
    s = spec.resolve(base)
    config = AutoConfig.from_pretrained(
        model_dir, rope_parameters=s.rope_parameters, max_position_embeddings=s.max_position_embeddings
    )
    return AutoModelForCausalLM.from_pretrained(model_dir, config=config).eval()


def doc_ids(tokenizer: Any, docs_file: Path) -> list[list[int]]:
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in load_documents(str(docs_file))]


@pytest.mark.parametrize(
    "spec", [ScalingSpec("none"), ScalingSpec("dynamic_ntk", 2.0)], ids=lambda s: s.label()
)
def test_truncate_equals_the_models_own_loss(
    backend: HFBackend, tiny_model_dir: Path, docs_file: Path, spec: ScalingSpec
):
    length = 200
    out = Perplexity(PerplexityParams(dataset=str(docs_file), documents=3), ENV).run(
        context(backend, spec, length)
    )
    model = direct_model(tiny_model_dir, spec)
    docs = doc_ids(backend.tokenizer, docs_file)
    bos = backend.tokenizer.bos_token_id
    chosen = [i for i, d in enumerate(docs) if len(d) >= length - 1][:3]
    assert chosen == [0, 1, 3]  # the short third document is passed over
    total = 0.0
    for i in chosen:
        ids = torch.tensor([[bos, *docs[i][: length - 1]]])
        with torch.no_grad():
            total += model(ids, labels=ids).loss.item() * (length - 1)  # mean over length-1 predictions
    expected = math.exp(total / (3 * (length - 1)))
    assert out.metrics.ppl == pytest.approx(expected, rel=1e-5)
    assert out.metrics.n_tokens == 3 * (length - 1) and out.metrics.n_documents == 3
    assert [s.doc_index for s in out.samples] == chosen
    assert sum(b.n for b in out.metrics.loss_by_position) == out.metrics.n_tokens
    assert out.metrics.ci_low <= out.metrics.ppl <= out.metrics.ci_high


def test_one_pass_gives_every_truncate_length(backend: HFBackend, docs_file: Path):
    params = PerplexityParams(dataset=str(docs_file), documents=2)
    task = Perplexity(params, ENV)
    spec = ScalingSpec("yarn", 4.0)
    shared: dict[str, Any] = {}
    model_cache: dict[str, Any] = {}
    calls: list[int] = []
    ctx_long = context(
        backend, spec, 100, group_cache=shared, group_lengths=[100, 300], model_cache=model_cache
    )
    real = ctx_long.lm.token_nll

    def counting(seqs: Any, score_from: Any = None) -> Any:
        calls.extend(len(s) for s in seqs)
        return real(seqs, score_from)

    ctx_long.lm.token_nll = counting  # type: ignore[method-assign]
    # As the worker does: each cell is told every length of its task in its group.
    one_pass = {n: task.run(CellContext(**{**ctx_long.__dict__, "length": n})).metrics for n in (100, 300)}
    assert calls == [300, 300]  # both documents once, at the longest length, for both cells
    for n in (100, 300):
        alone = task.run(context(backend, spec, n)).metrics
        assert one_pass[n].ppl == pytest.approx(alone.ppl, rel=1e-6)


def hf_guide_sliding(model: Any, ids: list[int], window: int, stride: int) -> tuple[float, int, list[float]]:
    """The transformers perplexity guide's loop: labels of old tokens set to -100."""
    nll_sum, n_tokens, window_means = 0.0, 0, []
    prev_end = 0
    for begin in range(0, len(ids), stride):
        end = min(begin + window, len(ids))
        trg = end - prev_end
        x = torch.tensor([ids[begin:end]])
        labels = x.clone()
        labels[:, :-trg] = -100
        with torch.no_grad():
            loss = model(x, labels=labels).loss.item()
        scored = int((labels[:, 1:] != -100).sum())
        nll_sum += loss * scored
        n_tokens += scored
        window_means.append(loss)
        prev_end = end
        if end == len(ids):
            break
    return nll_sum, n_tokens, window_means


def test_sliding_equals_the_transformers_guide(backend: HFBackend, tiny_model_dir: Path, docs_file: Path):
    params = PerplexityParams(
        dataset=str(docs_file), documents=2, mode="sliding", stride=64, sliding_tokens=700
    )
    out = Perplexity(params, ENV).run(context(backend, ScalingSpec("none"), 256))
    model = direct_model(tiny_model_dir, ScalingSpec("none"))
    bos = backend.tokenizer.bos_token_id
    total, count, means = 0.0, 0, []
    for d in doc_ids(backend.tokenizer, docs_file)[:2]:
        s, n, w = hf_guide_sliding(model, [bos, *d][:700], 256, 64)
        total, count, means = total + s, count + n, means + w
    assert out.metrics.n_tokens == count
    assert out.metrics.ppl == pytest.approx(math.exp(total / count), rel=1e-5)
    assert out.metrics.ppl_window_mean == pytest.approx(math.exp(np.mean(means)), rel=1e-5)


def test_sliding_windows_cover_each_token_once():
    windows, starts, _ = sliding_windows(list(range(1000)), 256, 100)
    scored = [w[s:] for w, s in zip(windows, starts, strict=True)]
    flat = [t for part in scored for t in part]
    assert flat == list(range(1, 1000))
    assert all(len(w) <= 256 for w in windows)


def test_no_long_enough_document_is_a_skip(backend: HFBackend, docs_file: Path):
    out = Perplexity(PerplexityParams(dataset=str(docs_file)), ENV).run(
        context(backend, ScalingSpec("none"), 100_000)
    )
    assert out.status == "skipped" and "no document has >= 99999 tokens" in (out.reason or "")


def test_jsonl_and_parquet_load_through_datasets(tmp_path: Path):
    import datasets

    rows = [{"text": "first doc"}, {"text": "second doc"}, {"text": ""}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(__import__("json").dumps(r) for r in rows))
    parquet = tmp_path / "d.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(parquet))
    assert load_documents(str(jsonl)) == ("first doc", "second doc")
    assert load_documents(str(parquet)) == ("first doc", "second doc")


class RecordingLM:
    """Wraps a model's LanguageModel and keeps what `token_nll` was asked."""

    def __init__(self, lm: Any) -> None:
        self.lm, self.calls = lm, []  # type: ignore[var-annotated]

    def generate(self, prompts: Any, max_new_tokens: int) -> Any:
        raise AssertionError("needle mode only scores")

    def token_nll(self, sequences: Any, score_from: Any = None) -> Any:
        self.calls.append(([list(s) for s in sequences], list(score_from)))
        return self.lm.token_nll(sequences, score_from)


@pytest.mark.parametrize("needle_task", ["passkey", "niah"])
def test_needle_mode_scores_only_the_answer_tokens(
    backend: HFBackend, tiny_model_dir: Path, docs_file: Path, needle_task: str
):
    spec = ScalingSpec("yarn", 4.0)
    ctx = context(backend, spec, 300)
    rec = RecordingLM(ctx.lm)
    ctx.lm = rec
    params = PerplexityParams(dataset=str(docs_file), documents=5, mode="needle", needle_task=needle_task)
    out = Perplexity(params, ENV).run(ctx)
    ((seqs, starts),) = rec.calls
    tok = backend.tokenizer
    model = direct_model(tiny_model_dir, spec)
    total, count = 0.0, 0
    for seq, start, s in zip(seqs, starts, out.samples, strict=True):
        assert len(seq) == 300 == s.n_prompt_tokens
        assert tok.decode(seq[start:]) == " " + s.target  # only the answer is scored...
        prefix = "The pass key is" if needle_task == "passkey" else "mentioned in the provided text is"
        assert tok.decode(seq[:start]).endswith(prefix)  # ... right after the answer prefix
        needle = tok.decode(seq[s.needle_token_offset :]).lstrip("\n")
        assert needle.startswith(
            "The pass key is" if needle_task == "passkey" else "One of the special magic"
        )
        assert s.target in needle.split("\n")[0]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([seq])).logits[0].double(), dim=-1)
        nll = [-logp[p - 1, seq[p]].item() for p in range(start, len(seq))]
        assert s.nll_sum == pytest.approx(sum(nll), rel=1e-5) and s.n_scored_tokens == len(nll)
        total, count = total + sum(nll), count + len(nll)
    assert out.metrics.ppl == pytest.approx(math.exp(total / count), rel=1e-5)
    depths = [s.depth_requested for s in out.samples]
    assert all(i / 5 <= d < (i + 1) / 5 for i, d in enumerate(depths))  # stratified, as passkey's
    # The same episodes for another method (same seed): a paired comparison.
    again = Perplexity(params, ENV).run(context(backend, ScalingSpec("none"), 300))
    assert [s.target for s in again.samples] == [s.target for s in out.samples]


def test_needle_mode_with_the_noise_filler(backend: HFBackend):
    params = PerplexityParams(dataset="noise", documents=2, mode="needle")
    task = Perplexity(params, ENV)
    assert task.min_length(PromptFormat(backend.tokenizer)) < 120
    out = task.run(context(backend, ScalingSpec("none"), 120))
    answer_tokens = len(
        PromptFormat(backend.tokenizer).encode(" 12345")
    )  # digits one by one: the same for any key
    assert out.status == "ok" and out.metrics.n_documents == 2 and out.metrics.n_tokens == 2 * answer_tokens
