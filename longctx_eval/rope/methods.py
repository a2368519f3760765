"""RoPE context-extension methods, each translated into transformers `rope_parameters`.

A method turns (the model's rope base, a factor, its own parameters) into the dict transformers
reads, plus the `max_position_embeddings` the scaled config must carry. The frequencies themselves
always come from transformers (see `rope.frequencies.frequencies_at`); the only formula written here is
static NTK's new base, because transformers has no rope type for it.

transformers only warns about bad values (a factor below 1, beta_fast below beta_slow, factor lists
of the wrong length); each method here refuses them with a ValueError naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from longctx_eval.registry import Registry
from longctx_eval.rope.base import RopeBase


class MethodParams(BaseModel):
    """Method-specific settings given next to `method:` in a sweep YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(MethodParams):
    pass


class YarnParams(MethodParams):
    beta_fast: PositiveFloat = Field(32.0, description="rotations above which a pair is left as is")
    beta_slow: PositiveFloat = Field(1.0, description="rotations below which a pair is fully interpolated")
    attention_factor: PositiveFloat | None = Field(
        None, description="cos/sin multiplier; default 0.1·ln(s)+1 as in the paper"
    )


class Llama3Params(MethodParams):
    low_freq_factor: PositiveFloat = Field(1.0, description="wavelengths above L/low are divided by s")
    high_freq_factor: PositiveFloat = Field(4.0, description="wavelengths below L/high are kept")


# How generation treats a rotary whose frequencies depend on the length (dynamic NTK, LongRoPE):
# the backend's own policy unless a method entry names one (docs/protocols.md).
GenerationPolicy = Literal["prompt", "served", "transformers", "exact"]
_GENERATION = (
    "generation with this method: 'prompt', 'served' (what vLLM serves), 'transformers' or 'exact' "
    "(see backend.length_policy); default: the backend's policy. Lets one sweep show two policies"
)


class DynamicParams(MethodParams):
    generation: GenerationPolicy | None = Field(None, description=_GENERATION)


class LongRopeParams(MethodParams):
    short_factor: tuple[PositiveFloat, ...] | None = Field(
        None, description="per-pair rescale factors used up to the original context"
    )
    long_factor: tuple[PositiveFloat, ...] | None = Field(
        None, description="per-pair rescale factors used beyond the original context"
    )
    attention_factor: PositiveFloat | None = Field(
        None, description="cos/sin multiplier; default sqrt(1 + ln s / ln L)"
    )
    source: str | None = Field(None, description="where the factors came from (file path or 'model config')")
    generation: GenerationPolicy | None = Field(None, description=_GENERATION)


class PRopeParams(MethodParams):
    p: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="fraction of the highest-frequency pairs kept rotating (0: none rotates, NoPE)",
    )


@dataclass(frozen=True)
class RopeSetting:
    """What a scaled config carries: transformers' dict and its max_position_embeddings."""

    rope_parameters: dict[str, Any]
    max_position_embeddings: int
    # The method entry's generation policy for a length-dependent rotary (None: the backend's).
    generation: str | None = None

    @property
    def length_dependent(self) -> bool:
        """True when transformers picks the frequencies from each sequence's length (dynamic NTK,
        LongRoPE) — whichever method asked for it: `none` on a Phi-3 is LongRoPE too."""
        kind = str(self.rope_parameters.get("rope_type", "default"))
        return "dynamic" in kind or kind == "longrope"


@dataclass(frozen=True)
class Method:
    """A registered method. Built-ins translate into a transformers rope type (`build`); a plugin
    (see `rope.plugins`) gives its frequencies as a function, and `build` carries them to the
    backends through a rope type of the harness's own."""

    name: str
    summary: str
    params_model: type[MethodParams]
    build: Callable[[RopeBase, float, Any], RopeSetting]
    takes_factor: bool = True
    # Plugins: (base, factor, params, length or None) -> Frequencies; None for built-ins.
    frequencies: Callable[..., Any] | None = None
    length_dependent: bool = False  # a plugin that asks for the current length
    source: str | None = None  # a plugin's file (named in its errors and by `ls`)
    stops_pairs: bool = False  # may give a pair frequency 0 on purpose (p-RoPE, NoPE)

    @property
    def plugin(self) -> bool:
        return self.frequencies is not None


def _discover_method_plugins() -> None:
    from longctx_eval.rope.plugins import load_method_plugins

    load_method_plugins()


METHODS: Registry[Method] = Registry("method", discover=_discover_method_plugins)


@dataclass(frozen=True)
class ScalingSpec:
    """One method@factor: what a group of cells shares, and what the backend applies."""

    method: str
    factor: float = 1.0
    params: MethodParams | None = None  # None: the method's defaults
    auto: bool = False  # factor derived from the length (factors: auto)

    def __post_init__(self) -> None:
        expected = self.definition.params_model
        if self.params is None:
            object.__setattr__(self, "params", expected())
        elif not isinstance(self.params, expected):
            raise TypeError(f"{self.method} takes {expected.__name__}, not {type(self.params).__name__}")

    @property
    def definition(self) -> Method:
        return METHODS.get(self.method)

    def label(self) -> str:
        """Leaderboard name: the method, its non-default parameters, and the factor."""
        assert self.params is not None
        extra = _param_label(self.params)
        name = f"{self.method}({extra})" if extra else self.method
        if not self.definition.takes_factor:
            return name
        return f"{name}@auto" if self.auto else f"{name}@{_fmt(self.factor)}"

    def resolve(self, base: RopeBase) -> RopeSetting:
        own = base.rope_parameters.get("rope_type")
        if own == "proportional" and self.method not in ("none", "p_rope"):
            # transformers' scaling types re-space every pair, stopped ones included (ntk would set
            # them turning; yarn and llama3 produce the wrong number of frequencies): no rope type
            # scales only the rotating pairs, so refuse rather than measure something else.
            raise ValueError(
                f"{self.method} cannot scale a model trained with p-RoPE or without rotary "
                "(rope_type 'proportional'): transformers' rope types would rotate its stopped pairs"
            )
        setting = self.definition.build(base, self.factor, self.params)
        generation = getattr(self.params, "generation", None)
        return dataclasses.replace(setting, generation=generation) if generation else setting

    def identity(self, base: RopeBase) -> dict[str, Any]:
        """Everything about the spec that changes a result (for cell ids)."""
        setting = self.resolve(base)
        return {
            "method": self.method,
            "factor": self.factor,
            "rope_parameters": setting.rope_parameters,
            "max_position_embeddings": setting.max_position_embeddings,
        }


def split_method(text: str) -> tuple[str, float | Literal["auto"] | None]:
    """`yarn@4` -> ("yarn", 4.0); `yarn@auto` -> ("yarn", "auto"); `yarn` -> ("yarn", None): the
    way every table labels a method, accepted wherever a method is named."""
    name, at, factor = text.partition("@")
    if not at:
        return text, None
    if factor == "auto":
        return name, "auto"
    try:
        value = float(factor)
    except ValueError:
        raise ValueError(f"expected NAME or NAME@FACTOR (a number, or auto), got {text!r}") from None
    return name, value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _param_label(params: MethodParams) -> str:
    defaults = type(params)()
    shown = []
    for name in type(params).model_fields:
        value = getattr(params, name)
        if name in {"short_factor", "long_factor", "source"} or value == getattr(defaults, name):
            continue
        shown.append(f"{name}={_fmt(value) if isinstance(value, float) else value}")
    return ",".join(shown)


def check_factor(factor: float) -> None:
    if not math.isfinite(factor) or factor < 1.0:
        raise ValueError(f"factor must be a number >= 1 (got {factor:g})")


def _with_theta(base: RopeBase, params: dict[str, Any]) -> dict[str, Any]:
    # rope_theta lives inside rope_parameters in transformers v5: a replaced dict without it
    # silently falls back to 1e4 (wrong for Llama 3's 5e5 and Qwen's 1e6).
    out = {"rope_theta": base.rope_theta, **params}
    if base.partial_rotary_factor != 1.0 and "partial_rotary_factor" not in out:
        out["partial_rotary_factor"] = base.partial_rotary_factor
    return out


def _scaled_length(base: RopeBase, factor: float) -> int:
    return math.ceil(base.original_context * factor)


def _none(base: RopeBase, factor: float, params: NoParams) -> RopeSetting:
    rope = dict(base.rope_parameters) or {"rope_type": "default"}
    rope.setdefault("rope_theta", base.rope_theta)
    return RopeSetting(rope, base.max_position_embeddings)


def _pi(base: RopeBase, factor: float, params: NoParams) -> RopeSetting:
    check_factor(factor)
    # max_position_embeddings stays at L: transformers' linear type does not read it, and vLLM
    # multiplies it by the factor itself.
    return RopeSetting(_with_theta(base, {"rope_type": "linear", "factor": factor}), base.original_context)


def ntk_base(rope_theta: float, rotary_dim: int, factor: float) -> float:
    """Static NTK-aware base b' = b·s^(d/(d−2)): the lowest frequency is interpolated by exactly 1/s.

    Written by hand because transformers has no static NTK rope type (its "dynamic" type recomputes
    the base per forward pass).
    """
    return float(rope_theta * factor ** (rotary_dim / (rotary_dim - 2)))


def _ntk(base: RopeBase, factor: float, params: NoParams) -> RopeSetting:
    check_factor(factor)
    theta = ntk_base(base.rope_theta, base.rotary_dim, factor)
    return RopeSetting(
        _with_theta(base, {"rope_type": "default", "rope_theta": theta}), _scaled_length(base, factor)
    )


def _dynamic(base: RopeBase, factor: float, params: DynamicParams) -> RopeSetting:
    check_factor(factor)
    # transformers' dynamic type takes L from max_position_embeddings: raising it would move the
    # point where scaling starts.
    return RopeSetting(_with_theta(base, {"rope_type": "dynamic", "factor": factor}), base.original_context)


def _yarn(base: RopeBase, factor: float, params: YarnParams) -> RopeSetting:
    check_factor(factor)
    if params.beta_fast <= params.beta_slow:
        raise ValueError(
            f"beta_fast ({params.beta_fast:g}) must be greater than beta_slow ({params.beta_slow:g})"
        )
    rope: dict[str, Any] = {
        "rope_type": "yarn",
        "factor": factor,
        # Always explicit: when missing, transformers fills it from max_position_embeddings and the
        # ramp would be computed at the scaled length.
        "original_max_position_embeddings": base.original_context,
        "beta_fast": params.beta_fast,
        "beta_slow": params.beta_slow,
    }
    if params.attention_factor is not None:
        rope["attention_factor"] = params.attention_factor
    return RopeSetting(_with_theta(base, rope), _scaled_length(base, factor))


def _llama3(base: RopeBase, factor: float, params: Llama3Params) -> RopeSetting:
    check_factor(factor)
    if params.high_freq_factor <= params.low_freq_factor:
        raise ValueError(
            f"high_freq_factor ({params.high_freq_factor:g}) must be greater than "
            f"low_freq_factor ({params.low_freq_factor:g})"
        )
    rope = {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": params.low_freq_factor,
        "high_freq_factor": params.high_freq_factor,
        "original_max_position_embeddings": base.original_context,
    }
    return RopeSetting(_with_theta(base, rope), max(_scaled_length(base, factor), base.original_context + 1))


def _longrope(base: RopeBase, factor: float, params: LongRopeParams) -> RopeSetting:
    check_factor(factor)
    if params.short_factor is None or params.long_factor is None:
        raise ValueError(
            "longrope needs short_factor and long_factor (from factors_file or the model config)"
        )
    for key in ("short_factor", "long_factor"):
        values = getattr(params, key)
        if len(values) != base.n_pairs:
            raise ValueError(
                f"{key} has {len(values)} values but the model has {base.n_pairs} rotary pairs "
                f"(rotary dim {base.rotary_dim})"
            )
    rope: dict[str, Any] = {
        "rope_type": "longrope",
        "factor": factor,
        "short_factor": list(params.short_factor),
        "long_factor": list(params.long_factor),
        "original_max_position_embeddings": base.original_context,
    }
    if params.attention_factor is not None:
        rope["attention_factor"] = params.attention_factor
    return RopeSetting(_with_theta(base, rope), _scaled_length(base, factor))


def _p_rope(base: RopeBase, factor: float, params: PRopeParams) -> RopeSetting:
    own = base.rope_parameters
    if own.get("rope_type") == "proportional":
        # A model trained with p-RoPE (or NoPE, p = 0): stopping more of its pairs is the method's
        # meaning; rotating pairs it was trained without rotation is not.
        trained = float(own.get("partial_rotary_factor", 1.0))
        kept, had = int(params.p * base.head_dim // 2), int(trained * base.head_dim // 2)
        if kept > had:
            raise ValueError(
                f"p={params.p:g} would rotate {kept} pairs of a model trained with {had} rotating "
                f"(p={trained:g}): the others were trained without rotation"
            )
    elif base.partial_rotary_factor != 1.0:
        raise ValueError("p_rope needs a fully rotary model (this one has partial_rotary_factor < 1)")
    # transformers' "proportional" reads partial_rotary_factor as the kept fraction p and returns
    # zero frequencies (no rotation) for the remaining low-frequency pairs: ⌊p·d/2⌋ pairs keep
    # θ_i = b^(−2i/d), RoPE's own; p = 0 stops every pair (cos 1, sin 0: NoPE).
    # No scale factor: the paper has none, and transformers' validation does not expect one here.
    rope = {"rope_type": "proportional", "partial_rotary_factor": params.p}
    return RopeSetting({"rope_theta": base.rope_theta, **rope}, base.original_context)


for _method in (
    Method("none", "the model's own rope, unchanged", NoParams, _none, takes_factor=False, stops_pairs=True),
    Method("pi", "Position Interpolation: every frequency divided by s", NoParams, _pi),
    Method("ntk", "static NTK-aware: base raised to b·s^(d/(d−2))", NoParams, _ntk),
    Method(
        "dynamic_ntk",
        "NTK with the scale recomputed from each sequence's length (per forward pass)",
        DynamicParams,
        _dynamic,
    ),
    Method("yarn", "YaRN: NTK-by-parts ramp plus attention temperature", YarnParams, _yarn),
    Method(
        "longrope",
        "LongRoPE: per-pair factors (short up to L, long beyond)",
        LongRopeParams,
        _longrope,
    ),
    Method("llama3", "Llama 3.1: keep high, divide low, smooth in between", Llama3Params, _llama3),
    Method(
        "p_rope",
        "p-RoPE: keep the fraction p of highest frequencies, stop the rest",
        PRopeParams,
        _p_rope,
        takes_factor=False,
        stops_pairs=True,
    ),
):
    METHODS.add(_method.name, _method)


def canonical_json(value: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
