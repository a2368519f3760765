"""LongRoPE factor files: the per-pair rescale factors a sweep reads with `factors_file:`.

A file holds a short and a long factor list (one value per rotary pair; frequency i is divided by
factor i), the scale factor s and the original context L they were made for, and whether they
were searched. Until a search has run, the usual starting point is the YaRN-derived set: the
ratio between the plain and the YaRN frequencies of each pair, as transformers computes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from longctx_eval.rope.base import RopeBase, scaled_config
from longctx_eval.rope.methods import LongRopeParams, ScalingSpec, YarnParams

FORMAT = "longctx-eval/longrope-factors/v1"
# A factor divides a pair's frequency: below 1 it would rotate faster than the model was trained.
Factor = Annotated[float, Field(ge=1)]


class SearchGeneration(BaseModel):
    """One generation of the evolutionary search: the best perplexity so far."""

    generation: int
    best_ppl: float
    evaluated: int  # candidates evaluated up to and including this generation


class SearchRecord(BaseModel):
    """How searched factors were found (`longctx-eval longrope-search`). Open to fields a newer
    version adds, so an older longctx-eval still reads its files."""

    model_config = ConfigDict(extra="allow")

    target_length: int
    objective: str | None = None  # what was minimised, in words
    best_ppl: float
    seed_ppl: dict[str, float] = Field(default_factory=dict)  # each starting point's perplexity
    held_out_documents: int = 0
    held_out_ppl: dict[str, float | None] = Field(default_factory=dict)  # best and seeds, unseen documents
    history: list[SearchGeneration] = Field(default_factory=list)
    evaluated: int = 0
    space: dict[str, Any] = Field(default_factory=dict)  # the search space's settings
    evolution: dict[str, Any] = Field(default_factory=dict)  # population, generations, ...
    seed: int = 0
    dataset: str = ""
    data_fingerprint: str = ""
    n_hat: str | None = None  # why LongRoPE's n̂ (unscaled leading positions) was not searched


class LongRopeFactors(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = Field(FORMAT, description="file format tag")
    factor: float = Field(ge=1, description="scale factor s the long factors were made for")
    original_context: PositiveInt = Field(description="the model's trained context L")
    short_factor: list[Factor] = Field(description="per-pair factors used up to L tokens")
    long_factor: list[Factor] = Field(description="per-pair factors used beyond L tokens")
    attention_factor: PositiveFloat | None = Field(None, description="None: sqrt(1 + ln s / ln L)")
    searched: bool = Field(description="true when found by the LongRoPE search, false for a starting point")
    source: str = Field(description="how the factors were made, e.g. 'yarn-derived' or 'search'")
    model: dict[str, Any] = Field(default_factory=dict, description="what they were made on")
    search: SearchRecord | None = Field(None, description="search settings and history, when searched")

    @field_validator("long_factor")
    @classmethod
    def _monotone(cls, value: list[float]) -> list[float]:
        # LongRoPE's search space: a lower-frequency pair is never interpolated less than a higher
        # one. A file that breaks it was edited by hand or made for another model's pair order.
        for i in range(1, len(value)):
            if value[i] < value[i - 1]:
                shown = f"pair {i}: {value[i]:g} < pair {i - 1}: {value[i - 1]:g}"
                raise ValueError(f"must be non-decreasing over pairs ({shown})")
        return value

    def params(self, origin: str) -> LongRopeParams:
        return LongRopeParams(
            short_factor=tuple(self.short_factor),
            long_factor=tuple(self.long_factor),
            attention_factor=self.attention_factor,
            source=origin,
        )


class FactorsFileError(ValueError):
    pass


def load_factors(path: Path) -> LongRopeFactors:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FactorsFileError(f"no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise FactorsFileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return LongRopeFactors.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise FactorsFileError(f"{path}: {where}: {first['msg']}") from None


def yarn_derived_factors(config: Any, base: RopeBase, factor: float) -> LongRopeFactors:
    """LongRoPE's usual starting point: per-pair θ_i / θ'_i of YaRN at the same factor."""
    from longctx_eval.rope.analysis import plain_setting
    from longctx_eval.rope.frequencies import frequencies_at  # torch: only when factors are made

    setting = ScalingSpec("yarn", factor, YarnParams()).resolve(base)
    yarn_inv, _ = frequencies_at(
        scaled_config(config, setting.rope_parameters, setting.max_position_embeddings), 1
    )
    plain, _ = frequencies_at(scaled_config(config, plain_setting(base), base.original_context), 1)
    long = (plain / yarn_inv).tolist()
    return LongRopeFactors(
        factor=factor,
        original_context=base.original_context,
        short_factor=[1.0] * base.n_pairs,
        long_factor=[round(x, 6) for x in long],
        searched=False,
        source="yarn-derived (unsearched starting point of the LongRoPE search)",
        model={"rope_theta": base.rope_theta, "rotary_dim": base.rotary_dim},
    )


def model_config_factors(base: RopeBase) -> LongRopeParams | None:
    """The longrope factors a model ships in its own config (Phi-3 style), if any."""
    rope = base.rope_parameters
    if rope.get("rope_type") != "longrope" or "long_factor" not in rope:
        return None
    return LongRopeParams(
        short_factor=tuple(rope["short_factor"]),
        long_factor=tuple(rope["long_factor"]),
        attention_factor=rope.get("attention_factor"),
        source="model config",
    )


def write_yarn_derived_factors(
    model: str, factor: float, output: Path, original_context: int | None = None
) -> LongRopeFactors:
    """`longctx-eval longrope-factors`: the YaRN-derived starting point for a model, written to a file."""
    from longctx_eval.errors import ConfigError
    from longctx_eval.models import ModelNotFound, resolve_model
    from longctx_eval.rope.base import RopeConfigError, read_rope_base
    from longctx_eval.store import atomic_write

    if not factor >= 1:
        raise ConfigError([("factor", f"must be >= 1 (got {factor:g})")])
    try:
        config = resolve_model(model, tokenizer=False).config
        factors = yarn_derived_factors(config, read_rope_base(config, original_context), factor)
    except ModelNotFound as exc:
        raise ConfigError([("model", str(exc))]) from None
    except RopeConfigError as exc:
        raise ConfigError([("model", str(exc))]) from None
    atomic_write(output, factors.model_dump_json(indent=2) + "\n")
    return factors
