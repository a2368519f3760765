"""Perplexity at growing lengths.

Data: long documents from a local .txt (one document per line), .jsonl or .parquet file, or a
hub dataset, read through `datasets`. At each length ℓ the first `documents` documents that are
long enough are used (fewer if the dataset runs out; `n_documents` says how many).

Modes:
- `truncate` (PI and LongRoPE papers): the first ℓ tokens of each document, BOS included when the
  tokenizer has one; every token after the first is scored (ℓ−1 per document).
- `sliding` (YaRN paper): windows of ℓ tokens moved by `stride` over the document (or its first
  `sliding_tokens` tokens); each window scores only the tokens new to it.

- `key_tokens` (LongPPL, Fang et al. 2024): truncate mode scored only on the tokens that need long
  context, as picked by an evaluator (by default the evaluated model under its own rope; see
  `perplexity_key_tokens`). `ppl` is on the key tokens, `ppl_rest` on the others, `ppl_all` on
  every token, with `n_key_tokens`. Every method of a model is scored on the same key tokens.
  The evaluator never sees more than its own trained context C (`evaluator_context`): its "long"
  NLL comes from sliding windows of C tokens moved by max(W, C/4) (one pass when ℓ ≤ C), its short
  NLL from windows of K + W moved by W (`key_stride`), as LongPPL does with K = 4096, W = 1024.
  Defaults: K = min(C, ℓ) / 4, W = K / 4. With the model as its own evaluator at ℓ > L the key
  tokens are those that need K…L tokens of context: the score says whether a method keeps the
  model's own medium-range dependencies working at positions beyond L. A long-context evaluator
  (C ≥ ℓ) finds those that need context beyond K, as LongPPL.
- `needle` (LongRoPE2's needle-driven perplexity, Shang et al. 2025): `documents` passkey or NIAH
  episodes (the tasks' own prompt builders, depth stratified as passkey's) whose filler comes from
  `dataset` (or `noise`); each prompt is followed by its answer and only the answer's tokens are
  scored. `ppl` is exp of their mean NLL.

Metric: `ppl` = exp(token-weighted mean NLL) by default; `average: window` makes it the YaRN
script's exp(mean over windows of the window mean). Both are recorded, with a bootstrap 95%
interval over documents and the mean loss by position bin (where in the context the loss rises).

One pass, many lengths: for a causal model the loss of token t depends only on tokens ≤ t, so
for methods whose frequencies do not depend on the sequence length, every truncate length of a
document comes from one forward pass at the longest length it is needed for. Dynamic NTK and
LongRoPE choose their frequencies from the length, so they get one pass per length.

Example: ℓ = 1024 on 4 documents → 4 × 1023 scored tokens → ppl 12.3 [11.1, 13.8]; in
`key_tokens` mode, 57 of those tokens are key tokens → ppl 4.1 on them, ppl_rest 12.9.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from longctx_eval.data import DatasetError, load_documents, resolve_source
from longctx_eval.haystack import Haystack
from longctx_eval.prompts import PromptFormat
from longctx_eval.stats import bootstrap_perplexity
from longctx_eval.task import (
    CellContext,
    CellOutcome,
    TaskEnv,
    TaskParamError,
    TaskParams,
    data_file_field,
    task,
)

from .perplexity_data import (
    PerplexityTaskMetrics,
    PerplexityTaskSample,
    TokenizedDocuments,
    loss_by_position,
    sliding_windows,
)
from .perplexity_key_tokens import key_token_outcome
from .perplexity_needle import needle_min_length, run_needle

# LongPPL's own settings (Fang et al. 2024, `longppl`): short context K and stride W.
LONGPPL_SHORT_CONTEXT = 4096
LONGPPL_STRIDE = 1024


class PerplexityParams(TaskParams):
    protocol: Literal["longppl"] | None = Field(
        None,
        description="'longppl': LongPPL's protocol (key_tokens mode, a separate evaluator model that sees "
        "the whole document, K = 4096 and W = 1024 unless given; docs/protocols.md); none: this project's "
        "settings",
    )
    dataset: str = data_file_field(
        description="local .txt/.jsonl/.json/.parquet file, or a hub dataset id (needle mode: the "
        "episodes' filler; 'noise' for the filler sentences)"
    )
    column: str = Field("text", description="text column (json, parquet and hub datasets)")
    split: str = Field("train", description="split of a hub dataset")
    subset: str | None = Field(None, description="configuration name of a hub dataset")
    documents: PositiveInt = Field(4, description="documents per length (needle mode: episodes)")
    mode: Literal["truncate", "sliding", "key_tokens", "needle"] = Field(
        "truncate",
        description="truncate: the first ℓ tokens of each document; sliding: windows of ℓ every `stride` "
        "(YaRN's protocol); key_tokens: truncate scored on the tokens that need long context (LongPPL); "
        "needle: the answer tokens of retrieval episodes (LongRoPE2)",
    )
    stride: PositiveInt = Field(256, description="sliding mode: tokens between window starts")
    sliding_tokens: PositiveInt | None = Field(
        None, description="sliding mode: tokens of each document covered (default: all of it)"
    )
    average: Literal["token", "window"] = Field(
        "token",
        description="token: exp of the token-weighted mean NLL; window: exp of the mean of window means",
    )
    position_bins: PositiveInt = Field(8, description="bins of the loss-by-position profile")
    evaluator: str | None = Field(
        None,
        description="key_tokens: model (directory or hub id, same tokenizer) that picks the key tokens; "
        "default: the evaluated model itself, under its own rope",
    )
    evaluator_context: PositiveInt | None = Field(
        None, description="key_tokens: longest context given to the evaluator (default: its trained context)"
    )
    key_short_context: PositiveInt | None = Field(
        None, description="key_tokens: the short context K (default: min(evaluator context, length) / 4)"
    )
    key_stride: PositiveInt | None = Field(None, description="key_tokens: window stride W (default: K / 4)")
    key_gain: float = Field(
        2.0,
        description="key_tokens: NLL gain (nats) from the long context that makes a key token (LongPPL α)",
    )
    key_max_nll: float = Field(
        2.0, description="key_tokens: a key token's long-context NLL must be below this (nats; LongPPL −β)"
    )
    needle_task: Literal["passkey", "niah"] = Field(
        "passkey", description="needle: whose episodes are scored (their default strings)"
    )

    @model_validator(mode="before")
    @classmethod
    def _longppl_mode(cls, data: Any) -> Any:
        """LongPPL is key-token perplexity: `protocol: longppl` implies `mode: key_tokens`."""
        if isinstance(data, dict) and data.get("protocol") == "longppl" and "mode" not in data:
            return {**data, "mode": "key_tokens"}
        return data

    @model_validator(mode="after")
    def _longppl(self) -> PerplexityParams:
        if self.protocol != "longppl":
            return self
        if self.mode != "key_tokens":
            raise ValueError(f"protocol longppl scores key tokens: mode must be key_tokens (got {self.mode})")
        if self.evaluator is None:
            raise ValueError(
                "protocol longppl needs evaluator: a separate long-context model with the same tokenizer "
                "(a local directory or hub id) that picks the key tokens from the whole document"
            )
        return self


@task
class Perplexity:
    name = "perplexity"
    version = "1"
    metric = "ppl"
    Params = PerplexityParams
    Sample = PerplexityTaskSample
    Metrics = PerplexityTaskMetrics

    def __init__(self, params: PerplexityParams, env: TaskEnv) -> None:
        self.params = params
        self.source = params.dataset
        if params.evaluator is not None:
            evaluator = env.resolve_path(params.evaluator)
            self.evaluator_source: str | None = str(evaluator) if evaluator.exists() else params.evaluator
        else:
            self.evaluator_source = None
        if params.mode == "needle" and params.dataset == "noise":
            return
        try:
            self.source = resolve_source(params.dataset, env.resolve_path)
        except DatasetError as exc:
            raise TaskParamError("dataset", str(exc)) from None

    def min_length(self, prompts: PromptFormat) -> int:
        if self.params.mode == "needle":
            return needle_min_length(self.params, prompts)
        return self.params.stride if self.params.mode == "sliding" else 2

    def length_problems(self, prompts: PromptFormat, longest: int) -> list[str]:
        """A local dataset with no document as long as the longest length is known up front."""
        if self.params.mode == "needle" or not Path(self.source).exists():
            return []  # a hub dataset is not fetched just to check
        p = self.params
        docs = TokenizedDocuments(load_documents(self.source, p.column, p.split, p.subset), prompts.tokenizer)
        need = longest - len(prompts.bos_ids)
        if not docs.first_with(need, 1):
            return [f"no document of {self.source} has the {need} tokens the longest length needs"]
        return []

    def _needle_haystack(self) -> Haystack:
        if self.params.dataset == "noise":
            return Haystack.noise()
        p = self.params
        return Haystack("\n\n".join(load_documents(self.source, p.column, p.split, p.subset)), self.source)

    def _documents(self, ctx: CellContext) -> TokenizedDocuments:
        """The dataset's documents, tokenized on demand, once per model."""
        if "docs" not in ctx.model_cache:
            p = self.params
            texts = load_documents(self.source, p.column, p.split, p.subset)
            ctx.model_cache["docs"] = TokenizedDocuments(texts, ctx.prompts.tokenizer)
        docs: TokenizedDocuments = ctx.model_cache["docs"]
        return docs

    def _chosen(self, docs: TokenizedDocuments, need: int) -> list[int]:
        """Indices of the first `documents` documents with at least `need` tokens."""
        return docs.first_with(need, self.params.documents)

    def run(self, ctx: CellContext) -> CellOutcome:
        if self.params.mode == "needle":
            return run_needle(ctx, self.params, self._needle_haystack)
        docs = self._documents(ctx)
        bos = ctx.prompts.bos_ids
        if self.params.mode in ("truncate", "key_tokens"):
            per_doc = self._truncate(ctx, docs, bos)
        else:
            per_doc = self._sliding(ctx, docs, bos)
        if self.params.mode == "key_tokens" and per_doc:
            return key_token_outcome(ctx, self.params, self.evaluator_source, docs, bos, per_doc)
        if not per_doc:
            need = ctx.length - len(bos)
            return CellOutcome.skipped(f"no document has >= {need} tokens")
        return self._outcome(ctx, per_doc)

    def _truncate(self, ctx: CellContext, docs: TokenizedDocuments, bos: list[int]) -> list[dict[str, Any]]:
        chosen = self._chosen(docs, ctx.length - len(bos))
        if ctx.length_dependent:
            seqs = [bos + docs[i][: ctx.length - len(bos)] for i in chosen]
            nlls = ctx.lm.token_nll(seqs)
        else:
            nlls = [self._one_pass(ctx, docs, bos, i)[: ctx.length - 1] for i in chosen]
        return [
            {
                "doc_index": i,
                "nll": nll,
                "positions": np.arange(1, ctx.length),
                "window_means": [float(nll.mean())],
            }
            for i, nll in zip(chosen, nlls, strict=True)
        ]

    def _one_pass(self, ctx: CellContext, docs: TokenizedDocuments, bos: list[int], doc: int) -> np.ndarray:
        """The document's NLL at the longest length any cell of the group needs it for (whole plan)."""
        cache: dict[int, np.ndarray] = ctx.group_cache.setdefault("nll", {})
        if doc not in cache or len(cache[doc]) < ctx.length - 1:
            lengths = sorted({ctx.length, *ctx.group_lengths})
            # Every document the group's lengths use, each at the longest length it serves.
            need: dict[int, int] = {}
            for length in lengths:
                for i in self._chosen(docs, length - len(bos)):
                    need[i] = max(need.get(i, 0), length)
            todo = [i for i, n in need.items() if i not in cache or len(cache[i]) < n - 1]
            seqs = [bos + docs[i][: need[i] - len(bos)] for i in todo]
            for i, nll in zip(todo, ctx.lm.token_nll(seqs), strict=True):
                cache[i] = nll
        return cache[doc]

    def _sliding(self, ctx: CellContext, docs: TokenizedDocuments, bos: list[int]) -> list[dict[str, Any]]:
        p = self.params
        if p.stride > ctx.length:
            raise ValueError(f"stride {p.stride} is longer than the window ({ctx.length} tokens)")
        out = []
        for i in self._chosen(docs, ctx.length - len(bos)):
            stream = bos + docs[i]
            if p.sliding_tokens is not None:
                stream = stream[: p.sliding_tokens]
            windows, score_from, positions = sliding_windows(stream, ctx.length, p.stride)
            nlls = ctx.lm.token_nll(windows, score_from)
            out.append(
                {
                    "doc_index": i,
                    "nll": np.concatenate(nlls),
                    "positions": np.concatenate(positions),
                    "window_means": [float(n.mean()) for n in nlls],
                }
            )
        return out

    def _outcome(self, ctx: CellContext, per_doc: list[dict[str, Any]]) -> CellOutcome:
        sums = [float(d["nll"].sum()) for d in per_doc]
        counts = [int(d["nll"].size) for d in per_doc]
        total_nll, total_n = sum(sums), sum(counts)
        token_ppl = math.exp(total_nll / total_n)
        window_means = [m for d in per_doc for m in d["window_means"]]
        window_ppl = math.exp(float(np.mean(window_means)))
        low, high = bootstrap_perplexity(sums, counts, seed=ctx.seed)
        average_token = self.params.average == "token"
        metrics = PerplexityTaskMetrics(
            ppl=token_ppl if average_token else window_ppl,
            nll=total_nll / total_n,
            n_tokens=total_n,
            n_documents=len(per_doc),
            ppl_token=token_ppl,
            ppl_window_mean=window_ppl,
            # the bootstrap is of the token mean: no interval for the window average
            ci_low=low if average_token else None,
            ci_high=high if average_token else None,
            loss_by_position=loss_by_position(per_doc, ctx.length, self.params.position_bins),
        )
        samples = [
            PerplexityTaskSample(
                index=k,
                doc_index=d["doc_index"],
                n_prompt_tokens=ctx.length,
                n_scored_tokens=c,
                nll_sum=s,
                ppl=math.exp(s / c),
            )
            for k, (d, s, c) in enumerate(zip(per_doc, sums, counts, strict=True))
        ]
        return CellOutcome(metrics, samples)
