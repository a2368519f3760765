"""Frequency usage (Barbero et al. 2024, "Round and Round We Go!") of each cell's rotary setting.

Data: long documents, read as the perplexity task reads them (local .txt/.jsonl/.json/.parquet file
or a hub dataset, through `datasets`): at length ℓ, the first ℓ tokens (BOS included) of the first
`documents` documents that long. Each runs through the model once as it is, and once with its
tokens shuffled (seeded, BOS kept first) unless `shuffle: false`. No generation.

Needs the model's internals: on a backend that does not expose them (`Introspectable`: the HF
backend does, vLLM does not) the cell is recorded as skipped.

Every figure is computed by `longctx_eval.usage` (`measure`, `summary`, `ood`) exactly as
`longctx-eval analyze` computes it for a model's own rope; this file runs it on the cell's live
model and arranges the figures into the cell's records, typed in `longctx_eval.usage.records`.

Metrics (`AnalysisMetrics`; per cell: model × method@factor × length, under its own rotary setting):
- `entropy`, `mean_distance`: per layer, the mean attention entropy (nats) and attended distance
  (tokens) over heads and queries; `entropy_mean`, `mean_distance_mean` over layers;
- `qk_band_share`: per layer, the share of Σ‖q^i‖·‖k^i‖ (the Cauchy–Schwarz bound of pair i's
  part of the logit) in each quarter of the rotary pairs, highest frequencies first;
- `positional_heads`: the `top_heads` heads with the most attention at one fixed offset (0 = the
  token itself, 1 = the previous token), with that share on the real and the shuffled tokens, and
  the pairs their q·k draws on; `n_positional_heads` counts those reaching `positional_threshold`
  on both;
- `ood_share`, `ood_distance_share`, `ood_share_by_kind`: the share of that bound in pairs turned
  past the angles they covered within the trained context L (see `longctx_eval.usage.ood`);
- `check_error`: how closely the recomputed attention matched the model's own (relative).

Samples: one `LayerSample` per layer (q/k/v norms [head][pair], offset profiles, band contrast,
per-head entropy and distance, the decay μ_q·R(r)·μ_k), then one `RopeSample` with the setting's
frequencies, the all-ones and Gaussian decay curves and the per-pair out-of-distribution table.

Example: the reference model at ℓ = 2048 under `none` → ood_share 0.41 (all pairs short of a turn
within 256 tokens are past their trained angles) and a previous-token head in layer 0 drawing on
pairs 0-2; under `yarn@8` → ood_share 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, PositiveInt

from longctx_eval.data import DatasetError, resolve_source
from longctx_eval.lm import Introspectable
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope.base import read_rope_base
from longctx_eval.rope.methods import RopeSetting
from longctx_eval.task import (
    CellContext,
    CellOutcome,
    TaskEnv,
    TaskParamError,
    TaskParams,
    data_file_field,
    task,
)
from longctx_eval.usage.documents import document_ids
from longctx_eval.usage.records import AnalysisMetrics, AnalysisSample, LayerSample, RopeSample
from longctx_eval.usage.result import DecayCurves, MethodAttention, OODShare

if TYPE_CHECKING:
    # The measuring modules need torch; imported where a cell runs, so that a results directory
    # (which registers this task to read its records) reads and reports without torch.
    from longctx_eval.usage.measure import LayerMeasure
    from longctx_eval.usage.summary import Offsets


class AnalysisParams(TaskParams):
    dataset: str = data_file_field(description="local .txt/.jsonl/.json/.parquet file, or a hub dataset id")
    column: str = Field("text", description="text column (json, parquet and hub datasets)")
    split: str = Field("train", description="split of a hub dataset")
    subset: str | None = Field(None, description="configuration name of a hub dataset")
    documents: PositiveInt = Field(2, description="documents per length (one forward pass each)")
    shuffle: bool = Field(True, description="also run each document's tokens shuffled (positional heads)")
    offsets: PositiveInt = Field(8, description="offsets 0 … K−1 whose attention mass is measured")
    top_heads: PositiveInt = Field(5, description="positional heads listed in the metrics")
    positional_threshold: float = Field(
        0.5, gt=0.0, le=1.0, description="attention share at one offset that makes a head positional"
    )
    decay_points: PositiveInt = Field(128, description="distances sampled for the decay curves")
    gaussian_samples: PositiveInt = Field(1024, description="Gaussian (q, k) draws for the decay curve")
    original_context: PositiveInt | None = Field(
        None, description="trained context L for the out-of-distribution share (default: the model config's)"
    )


@task
class Analysis:
    name = "analysis"
    version = "1"
    metric = "none"
    Params = AnalysisParams
    Metrics = AnalysisMetrics
    Sample = AnalysisSample

    def __init__(self, params: AnalysisParams, env: TaskEnv) -> None:
        self.params = params
        try:
            self.source = resolve_source(params.dataset, env.resolve_path)
        except DatasetError as exc:
            raise TaskParamError("dataset", str(exc)) from None

    def min_length(self, prompts: PromptFormat) -> int:
        return self.params.offsets + 1

    def _documents(self, ctx: CellContext) -> list[tuple[int, list[int]]]:
        """The cell's sequences, tokenized once per model and length (shared across methods)."""
        cache: dict[int, list[tuple[int, list[int]]]] = ctx.model_cache.setdefault("sequences", {})
        if ctx.length not in cache:
            p = self.params
            cache[ctx.length] = document_ids(
                ctx.prompts.tokenizer, self.source, ctx.length, p.documents, p.column, p.split, p.subset
            )
        return cache[ctx.length]

    def run(self, ctx: CellContext) -> CellOutcome:
        if not isinstance(ctx.lm, Introspectable):
            return CellOutcome.skipped(
                "the backend does not expose the model's internals (use the hf backend)"
            )
        docs = self._documents(ctx)
        if not docs:
            return CellOutcome.skipped(f"no document has {ctx.length} tokens")
        from longctx_eval.usage.measure import measure_documents

        model, p = ctx.lm.torch_model, self.params
        keep = len(ctx.prompts.bos_ids)
        real, mixed = measure_documents(model, docs, p.offsets, keep, ctx.seed, p.shuffle)
        return self._outcome(ctx, model, real, mixed, len(docs))

    def _outcome(
        self,
        ctx: CellContext,
        model: Any,
        real: list[LayerMeasure],
        mixed: list[LayerMeasure] | None,
        n_docs: int,
    ) -> CellOutcome:
        from longctx_eval.rope.frequencies import rotary_modules
        from longctx_eval.usage import summary
        from longctx_eval.usage.ood import ood_share

        p = self.params
        # The model's config is the pristine one; the cell's setting lives in its rotary module.
        rope_config = getattr(rotary_modules(model)[0][1], "config", model.config)
        setting = RopeSetting(dict(rope_config.rope_parameters), int(rope_config.max_position_embeddings))
        base = read_rope_base(model.config, p.original_context or ctx.original_context or None)
        found = summary.offsets(real, mixed, p.positional_threshold)
        attention = summary.method_attention(None, real, found.best)
        decay = summary.decay_curves(
            rope_config, ctx.length, real, p.decay_points, p.gaussian_samples, ctx.seed
        )
        ood = ood_share(model.config, base, setting, ctx.length, summary.pair_weight(real))
        metrics = AnalysisMetrics(
            n_documents=n_docs,
            n_tokens=n_docs * ctx.length,
            rotary_dim=real[0].rotary_dim,
            attention_factor=decay.attention_factor,
            entropy=attention.entropy,
            entropy_mean=float(np.mean(attention.entropy_per_head)),
            mean_distance=attention.mean_distance,
            mean_distance_mean=float(np.mean(attention.mean_distance_per_head)),
            qk_band_share=summary.qk_band_share(real),
            ood_share=ood.share,
            ood_distance_share=ood.distance_share,
            ood_share_by_kind=ood.share_by_kind,
            positional_heads=found.heads[: p.top_heads],
            n_positional_heads=sum(h.positional for h in found.heads),
            check_error=summary.check_error(real),
        )
        samples = [*_layer_samples(real, found, attention, decay), _rope_sample(len(real), decay, ood)]
        return CellOutcome(metrics, samples)


def _sig(values: Any) -> Any:
    """Nested lists of floats at 5 significant digits: a big model's layer line is ~10k numbers,
    and 5 digits hold every figure the analysis reports."""
    array = np.asarray(values, dtype=float)
    return np.vectorize(lambda v: float(f"{v:.5g}"), otypes=[float])(array).tolist() if array.size else []


def _layer_samples(
    real: list[LayerMeasure], found: Offsets, attention: MethodAttention, decay: DecayCurves
) -> list[LayerSample]:
    """One sample per layer: its norms, offset profiles, band contrast, per-head entropy and
    distance, and its decay curve (the arrays `summary` computed for every layer, cut per layer)."""
    out = []
    for i, m in enumerate(real):
        out.append(
            LayerSample(
                index=i,
                layer=i,
                q_norm=_sig(m.q_norm),
                k_norm=_sig(m.k_norm),
                v_norm=_sig(m.v_norm),
                q_pass_norm=_sig(m.q_pass_norm),
                k_pass_norm=_sig(m.k_pass_norm),
                v_pass_norm=_sig(m.v_pass_norm),
                offset_profile=_sig(m.offset_profile),
                offset_profile_shuffled=None if found.shuffled is None else _sig(found.shuffled[i]),
                band_contrast=_sig(found.contrast[i]),
                entropy=_sig(attention.entropy_per_head[i]),
                mean_distance=_sig(attention.mean_distance_per_head[i]),
                decay_model=_sig(decay.model[i]),
            )
        )
    return out


def _rope_sample(index: int, decay: DecayCurves, ood: OODShare) -> RopeSample:
    """The setting's frequencies, its all-ones and Gaussian decay curves and per-pair OOD table."""
    return RopeSample(
        index=index,
        inv_freq=decay.inv_freq,
        attention_factor=decay.attention_factor,
        distances=decay.distances,
        decay_ones=_sig(decay.ones),
        decay_gaussian_mean=_sig(decay.gaussian_mean),
        decay_gaussian_se=_sig(decay.gaussian_se),
        ood_pairs=ood.pairs,
    )
