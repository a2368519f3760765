"""The result of a frequency-usage analysis (`analyze`), as JSON-ready pydantic models.

Nested lists are indexed [layer][head][pair] (KV heads for k and v), pair 0 being the highest
frequency; "none" is the model's own rope, always first where methods are listed.

Torch-free on purpose (pydantic and the numpy-only `positional`): the report reads these models,
and the `analysis` task's records built from them (`usage.records`), without the model stack.
Where a piece is computed for a rotary setting with no method name (the `analysis` task's cell),
its label, method and factor are None.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.records import StoredFloat
from longctx_eval.usage.positional import PositionalHead

Grid = list[list[list[StoredFloat]]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairOOD(_Strict):
    """One rotary pair against the angles it covered in training (see `usage.ood`)."""

    pair: int = Field(description="pair index, 0 = highest frequency")
    kind: str = Field(description="extrapolated | interpolated | blended | stopped (rope.analysis)")
    full_turn: bool = Field(description="completed at least one turn within L under the model's rope")
    trained_span: StoredFloat = Field(description="L·θ_i: angles (radians) covered in training")
    span: StoredFloat = Field(description="T·θ'_i: angles spanned at the target length under the method")
    ood: bool = Field(description="out of distribution (see the module docstring)")
    beyond: StoredFloat = Field(description="share of distances in [0, T) whose angle exceeds trained_span")


class OODShare(_Strict):
    """The out-of-distribution share of the q·k norm for one setting at one target length."""

    label: str | None = Field(description="method@factor (None where only the setting is known)")
    method: str | None = Field(description="method name")
    factor: float | None = Field(description="scale factor s")
    target_length: int = Field(description="T")
    original_context: int = Field(description="L")
    share: StoredFloat = Field(description="share of the q·k norm bound in out-of-distribution pairs")
    distance_share: StoredFloat = Field(description="the same, each pair weighted by its `beyond`")
    share_by_kind: dict[str, StoredFloat] = Field(description="`share` split by the pairs' class")
    pairs: list[PairOOD] = Field(description="one row per rotary pair")


class MethodAttention(_Strict):
    """Attention entropy and distance with one rotary setting, at the analysed length."""

    label: str | None = Field(description="method@factor ('none': the model's own rope)")
    method: str | None = Field(description="method name")
    factor: float | None = Field(description="scale factor s")
    entropy: list[StoredFloat] = Field(description="per layer: mean entropy (nats) over heads and queries")
    entropy_per_head: list[list[StoredFloat]] = Field(description="[layer][head]")
    mean_distance: list[StoredFloat] = Field(description="per layer: mean attended distance (tokens)")
    mean_distance_per_head: list[list[StoredFloat]] = Field(description="[layer][head]")
    offset_share: list[list[StoredFloat]] = Field(
        description="[layer][head]: attention mass at the head's offset found under the model's own rope"
    )


class DecayCurves(_Strict):
    """q·R(r)·k against the distance r with one rotary setting (see `usage.decay`)."""

    label: str | None = Field(description="method@factor")
    method: str | None = Field(description="method name")
    factor: float | None = Field(description="scale factor s")
    inv_freq: list[StoredFloat] = Field(
        description="θ'_i at the analysed length, as transformers computes them"
    )
    attention_factor: StoredFloat = Field(description="cos/sin multiplier (its square scales every curve)")
    distances: list[int] = Field(description="r")
    ones: list[StoredFloat] = Field(description="q = k = all-ones: Σ_i 2·cos(rθ_i) × attention²")
    gaussian_mean: list[StoredFloat] = Field(description="q, k ~ N(0, I): sample mean")
    gaussian_se: list[StoredFloat] = Field(description="its standard error")
    model: list[list[StoredFloat]] = Field(description="[layer][distance]: μ_q·R(r)·μ_k averaged over heads")


class UsageResult(_Strict):
    """Which rotary frequencies a model uses, and what each method does to them."""

    model: str = Field(description="model directory, hub id or class name")
    dataset: str = Field(description="where the documents came from")
    length: int = Field(description="N: tokens per document, BOS included")
    documents: list[int] = Field(description="indices of the documents used, in the dataset")
    seed: int = Field(description="seeds the shuffle and the Gaussian draws")
    original_context: int = Field(description="L, the trained context")
    head_dim: int = Field(description="head dimension")
    rotary_dim: int = Field(description="rotary dimensions per head (pairs = rotary_dim / 2)")
    pass_dims: int = Field(description="dimensions per head that never rotate (partial rotary)")
    inv_freq: list[StoredFloat] = Field(description="the model's own θ_i at length N")
    q_norm: Grid = Field(description="[layer][head][pair]: mean ‖q^i‖ before rotation")
    k_norm: Grid = Field(description="[layer][kv head][pair]: mean ‖k^i‖ before rotation")
    v_norm: Grid = Field(description="[layer][kv head][pair]: the same split of the values, for contrast")
    q_pass_norm: list[list[StoredFloat]] = Field(
        description="[layer][head]: mean norm of the non-rotary dims"
    )
    k_pass_norm: list[list[StoredFloat]] = Field(description="[layer][kv head]")
    v_pass_norm: list[list[StoredFloat]] = Field(description="[layer][kv head]")
    qk_band_share: list[list[StoredFloat]] = Field(
        description="[layer][quarter]: share of Σ‖q^i‖·‖k^i‖ per quarter of the pairs, fastest first"
    )
    offsets: int = Field(description="K: offsets 0 … K−1 in the offset profiles")
    offset_profile: Grid = Field(description="[layer][head][offset]: mean attention mass, real text")
    offset_profile_shuffled: Grid | None = Field(description="the same on shuffled tokens (None: not run)")
    band_contrast: Grid = Field(
        description="[layer][head][pair]: each pair's logit advantage at the head's offset over its mean"
    )
    positional_heads: list[PositionalHead] = Field(description="the most positional heads, strongest first")
    attention: list[MethodAttention] = Field(description="entropy and distance per method")
    decay: list[DecayCurves] = Field(description="decay curves per method")
    ood: list[OODShare] = Field(description="out-of-distribution norm share per method and target length")
    check_error: StoredFloat = Field(
        description="largest relative error of the attention recomputation check"
    )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
