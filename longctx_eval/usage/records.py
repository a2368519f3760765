"""What the `analysis` task records per cell: its metrics and its two kinds of sample, typed.

Torch-free (pydantic, and the models of `usage.result` and `usage.positional`): the results reader
and the report validate and read them without the model stack. The field names are those the task
has always written, so directories written before these classes existed read as they are.

A cell's samples are one `LayerSample` per layer, then one `RopeSample`. They are two classes,
not one with optional fields, so that every field a layer sample holds is required there and
typed (a report reading `decay_model` never meets a None). The task declares their common base
`AnalysisSample`, because a task declares one Sample class (`records.Sample` subclasses, validated
with `model_validate`): validating that base picks the class its `kind` names, so a samples file
reads back as the two classes, as a discriminated union would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, ModelWrapValidatorHandler, model_validator

from longctx_eval.records import CellRecord, Metrics, Sample, StoredFloat
from longctx_eval.usage.positional import PositionalHead
from longctx_eval.usage.result import PairOOD

Table = list[list[StoredFloat]]


class AnalysisMetrics(Metrics):
    """A cell's frequency-usage figures under its own rotary setting (n_documents and n_tokens are
    the base class's). Every field has a default because a skipped or failed cell has none of
    them; an ok cell has them all (`measured`)."""

    rotary_dim: int | None = Field(None, description="rotary dimensions per head (pairs = rotary_dim / 2)")
    attention_factor: float | None = Field(None, description="the setting's cos/sin multiplier")
    entropy: list[StoredFloat] = Field(
        default_factory=list, description="per layer: mean attention entropy (nats) over heads and queries"
    )
    entropy_mean: float | None = Field(None, description="the same over layers")
    mean_distance: list[StoredFloat] = Field(
        default_factory=list, description="per layer: mean attended distance (tokens)"
    )
    mean_distance_mean: float | None = Field(None, description="the same over layers")
    qk_band_share: Table = Field(
        default_factory=list,
        description="[layer][quarter]: share of Σ‖q^i‖·‖k^i‖ per quarter of the pairs, fastest first",
    )
    ood_share: float | None = Field(
        None, description="share of the q·k norm bound in pairs turned past their trained angles"
    )
    ood_distance_share: float | None = Field(None, description="the same, each pair weighted by its `beyond`")
    ood_share_by_kind: dict[str, StoredFloat] = Field(
        default_factory=dict, description="`ood_share` split by the pairs' class (rope.analysis)"
    )
    positional_heads: list[PositionalHead] = Field(
        default_factory=list, description="the most positional heads, strongest first (top_heads of them)"
    )
    n_positional_heads: int | None = Field(
        None, description="heads reaching the threshold on the real and the shuffled tokens"
    )
    check_error: float | None = Field(
        None, description="largest relative error of the attention recomputation check"
    )

    @property
    def measured(self) -> bool:
        """The cell ran (a skipped or failed cell's metrics are all defaults)."""
        return self.entropy_mean is not None


class AnalysisSample(Sample):
    """The task's declared sample class: validating it gives a `LayerSample` or a `RopeSample` (the
    class its `kind` names; an unknown kind stays an AnalysisSample with its fields as extras).
    Build the subclasses directly: the base's constructor does not dispatch."""

    kind: str = Field(description="'layer' or 'rope'")

    @model_validator(mode="wrap")
    @classmethod
    def _by_kind(cls, data: Any, handler: ModelWrapValidatorHandler[AnalysisSample]) -> AnalysisSample:
        if cls is AnalysisSample and isinstance(data, dict):
            kind = _KINDS.get(data.get("kind"))
            if kind is not None:
                return kind.model_validate(data)
        return handler(data)


class LayerSample(AnalysisSample):
    """One layer, averaged over the cell's documents; numbers at 5 significant digits."""

    kind: Literal["layer"] = "layer"
    layer: int = Field(description="layer index (also the sample's index)")
    q_norm: Table = Field(description="[head][pair]: mean ‖q^i‖ before rotation")
    k_norm: Table = Field(description="[kv head][pair]: mean ‖k^i‖ before rotation")
    v_norm: Table = Field(description="[kv head][pair]: the same split of the values")
    q_pass_norm: list[StoredFloat] = Field(description="[head]: mean norm of the non-rotary dims")
    k_pass_norm: list[StoredFloat] = Field(description="[kv head]")
    v_pass_norm: list[StoredFloat] = Field(description="[kv head]")
    offset_profile: Table = Field(description="[head][offset]: mean attention mass, real text")
    offset_profile_shuffled: Table | None = Field(description="the same on shuffled tokens (None: not run)")
    band_contrast: Table = Field(
        description="[head][pair]: each pair's logit advantage at the head's offset over its mean"
    )
    entropy: list[StoredFloat] = Field(description="[head]: mean attention entropy (nats)")
    mean_distance: list[StoredFloat] = Field(description="[head]: mean attended distance (tokens)")
    decay_model: list[StoredFloat] = Field(description="[distance]: μ_q·R(r)·μ_k averaged over heads")


class RopeSample(AnalysisSample):
    """The cell's rotary setting: its frequencies, the decay curves under them, the per-pair
    out-of-distribution table."""

    kind: Literal["rope"] = "rope"
    inv_freq: list[StoredFloat] = Field(
        description="θ'_i at the cell's length, as transformers computes them"
    )
    attention_factor: StoredFloat = Field(description="cos/sin multiplier")
    distances: list[int] = Field(description="r, for the decay curves here and in the layer samples")
    decay_ones: list[StoredFloat] = Field(description="q = k = all-ones")
    decay_gaussian_mean: list[StoredFloat] = Field(description="q, k ~ N(0, I): sample mean")
    decay_gaussian_se: list[StoredFloat] = Field(description="its standard error")
    ood_pairs: list[PairOOD] = Field(description="one row per rotary pair")


_KINDS: dict[Any, type[AnalysisSample]] = {"layer": LayerSample, "rope": RopeSample}


def analysis_metrics(record: CellRecord) -> AnalysisMetrics | None:
    """The metrics of an ok cell that ran the analysis (any task label), else None."""
    metrics = record.metrics  # typed by the reader (payloads.typed_record) when the task is installed
    return (
        metrics
        if record.status == "ok" and isinstance(metrics, AnalysisMetrics) and metrics.measured
        else None
    )


def layer_samples(samples: Sequence[Sample]) -> list[LayerSample]:
    """A cell's layer samples in layer order."""
    found = [s for s in samples if isinstance(s, LayerSample)]
    return sorted(found, key=lambda s: s.layer)


def rope_sample(samples: Sequence[Sample]) -> RopeSample | None:
    """A cell's rotary sample (None: the cell has none)."""
    return next((s for s in samples if isinstance(s, RopeSample)), None)
