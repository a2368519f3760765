"""Frequency usage (Barbero et al. 2024, "Round and Round We Go!") of each cell's rotary setting.

Data: long documents, read as the perplexity task reads them (local .txt/.jsonl/.json/.parquet file
or a hub dataset, through `datasets`): at length ℓ, the first ℓ tokens (BOS included) of the first
`documents` documents that long. Each runs through the model once as it is, and once with its
tokens shuffled (seeded, BOS kept first) unless `shuffle: false`. No generation.

Needs the model's internals: on a backend that does not expose them (`Introspectable`: the HF
backend does, vLLM does not) the cell is recorded as skipped.

Metrics (per cell: model × method@factor × length, under the cell's own rotary setting):
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

Samples: one per layer (q/k/v norms [head][pair], offset profiles, band contrast, per-head entropy
and distance, the decay μ_q·R(r)·μ_k), then one with the setting's frequencies, the all-ones and
Gaussian decay curves and the per-pair out-of-distribution table.

Example: the reference model at ℓ = 2048 under `none` → ood_share 0.41 (all pairs short of a turn
within 256 tokens are past their trained angles) and a previous-token head in layer 0 drawing on
pairs 0-2; under `yarn@8` → ood_share 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, PositiveInt

from longctx_eval.data import DatasetError, resolve_source
from longctx_eval.lm import Introspectable
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope.base import read_rope_base
from longctx_eval.rope.frequencies import frequencies_at, rotary_modules
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
from longctx_eval.usage.decay import decay_distances, gaussian_decay, model_decay, ones_decay
from longctx_eval.usage.documents import document_ids, shuffled
from longctx_eval.usage.measure import LayerMeasure, mean_over, measure, stacked
from longctx_eval.usage.norms import band_shares, qk_bound
from longctx_eval.usage.ood import ood_share
from longctx_eval.usage.positional import at_offsets, positional_heads


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
            reason = "the backend does not expose the model's internals (use the hf backend)"
            return CellOutcome({}, [], status="skipped", reason=reason)
        docs = self._documents(ctx)
        if not docs:
            return CellOutcome({}, [], status="skipped", reason=f"no document has {ctx.length} tokens")
        model = ctx.lm.torch_model
        k = self.params.offsets
        real = mean_over([measure(model, ids, k) for _, ids in docs])
        mixed = None
        if self.params.shuffle:
            keep = len(ctx.prompts.bos_ids)
            mixed = mean_over([measure(model, shuffled(ids, keep, ctx.seed + i), k) for i, ids in docs])
        return self._outcome(ctx, model, real, mixed, len(docs))

    def _outcome(
        self,
        ctx: CellContext,
        model: Any,
        real: list[LayerMeasure],
        mixed: list[LayerMeasure] | None,
        n_docs: int,
    ) -> CellOutcome:
        p = self.params
        # The model's config is the pristine one; the cell's setting lives in its rotary module.
        base = read_rope_base(model.config, p.original_context or ctx.original_context or None)
        rope_config = getattr(rotary_modules(model)[0][1], "config", model.config)
        setting = RopeSetting(dict(rope_config.rope_parameters), int(rope_config.max_position_embeddings))
        inv, attention = frequencies_at(rope_config, ctx.length)
        theta = inv.tolist()
        bound = qk_bound(stacked(real, "q_norm"), stacked(real, "k_norm"))
        ood = ood_share(model.config, base, setting, ctx.length, bound.sum(axis=(0, 1)))
        profile, contrast = stacked(real, "offset_profile"), stacked(real, "band_contrast")
        again = None if mixed is None else stacked(mixed, "offset_profile")
        heads = positional_heads(profile, again, contrast, p.positional_threshold)
        entropy, distance = stacked(real, "entropy"), stacked(real, "mean_distance")
        metrics = {
            "n_documents": n_docs,
            "n_tokens": n_docs * ctx.length,
            "rotary_dim": real[0].rotary_dim,
            "attention_factor": attention,
            "entropy": entropy.mean(axis=1).tolist(),
            "entropy_mean": float(entropy.mean()),
            "mean_distance": distance.mean(axis=1).tolist(),
            "mean_distance_mean": float(distance.mean()),
            "qk_band_share": band_shares(bound),
            "ood_share": ood.share,
            "ood_distance_share": ood.distance_share,
            "ood_share_by_kind": ood.share_by_kind,
            "positional_heads": [h.model_dump() for h in heads[: p.top_heads]],
            "n_positional_heads": sum(h.positional for h in heads),
            "check_error": float(max(m.check_error for m in real)),
        }
        r = decay_distances(ctx.length, p.decay_points)
        best = at_offsets(profile, contrast)
        samples = [
            _layer_sample(i, m, None if again is None else again[i], best[i], theta, attention, r)
            for i, m in enumerate(real)
        ]
        mean, se = gaussian_decay(theta, attention, r, p.gaussian_samples, ctx.seed)
        samples.append(
            {
                "index": len(real),
                "kind": "rope",
                "inv_freq": theta,
                "attention_factor": attention,
                "distances": r,
                "decay_ones": _sig(ones_decay(theta, attention, r)),
                "decay_gaussian_mean": _sig(mean),
                "decay_gaussian_se": _sig(se),
                "ood_pairs": [row.model_dump() for row in ood.pairs],
            }
        )
        return CellOutcome(metrics, samples)


def _sig(values: Any) -> Any:
    """Nested lists of floats at 5 significant digits: a big model's layer line is ~10k numbers,
    and 5 digits hold every figure the analysis reports."""
    array = np.asarray(values, dtype=float)
    return np.vectorize(lambda v: float(f"{v:.5g}"), otypes=[float])(array).tolist() if array.size else []


def _layer_sample(
    layer: int,
    m: LayerMeasure,
    shuffled_profile: np.ndarray | None,
    contrast: np.ndarray,
    theta: list[float],
    attention: float,
    r: list[int],
) -> dict[str, Any]:
    return {
        "index": layer,
        "kind": "layer",
        "layer": layer,
        "q_norm": _sig(m.q_norm),
        "k_norm": _sig(m.k_norm),
        "v_norm": _sig(m.v_norm),
        "q_pass_norm": _sig(m.q_pass_norm),
        "k_pass_norm": _sig(m.k_pass_norm),
        "v_pass_norm": _sig(m.v_pass_norm),
        "offset_profile": _sig(m.offset_profile),
        "offset_profile_shuffled": None if shuffled_profile is None else _sig(shuffled_profile),
        "band_contrast": _sig(contrast),
        "entropy": _sig(m.entropy),
        "mean_distance": _sig(m.mean_distance),
        "decay_model": _sig(model_decay(m.q_mean, m.k_mean, theta, attention, r)),
    }
