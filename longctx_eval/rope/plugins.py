"""Method plugins: a context-extension method written as one function, found like task plugins.

A plugin module registers a function with `@rope_method`. Given the model's rope base (head and
rotary dimension, θ, original length, its own rope parameters), the factor, its own typed
parameters and, for a length-dependent method, the current length, the function returns the
per-pair inverse frequencies and the attention factor (`Frequencies`):

    class Params(MethodParams):
        keep: int = Field(4, description="pairs left as they are")

    @rope_method("my_method", Params)
    def my_method(base: RopeBase, factor: float, params: Params, length: int | None) -> Frequencies:
        theta = base.base_inv_freq()
        return Frequencies([t if i < params.keep else t / factor for i, t in enumerate(theta)])

Plugins are found through the entry-point group `longctx_eval.methods` (a package's own plugins),
the `methods_path:` list of a sweep YAML, and the LONGCTX_EVAL_METHODS_PATH environment variable
(files or directories, `os.pathsep`-separated).

How the frequencies reach a model (no backend knows about plugins):
- transformers: the setting carries rope type `longctx_eval` (`longctx_eval_dynamic` when the
  method depends on the length: transformers recomputes "dynamic" types from each forward's
  length), whose init function is registered in transformers' `ROPE_INIT_FUNCTIONS`, the
  extension point transformers documents for custom rope types (see `rope.frequencies`).
- vLLM: a static method is served as LongRoPE with per-pair rescale factors θ_i / θ'_i (short =
  long) and the method's attention factor (`as_longrope`); a length-dependent one is refused.

Every result is checked (`check_frequencies`): one positive, finite frequency per rotary pair and a
positive, finite attention factor; a failure names the plugin's file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from longctx_eval.registry import import_plugin_file, plugin_files
from longctx_eval.rope.base import RopeBase
from longctx_eval.rope.methods import (
    METHODS,
    Method,
    MethodParams,
    NoParams,
    RopeSetting,
    ScalingSpec,
    check_factor,
)

ENTRY_POINT_GROUP = "longctx_eval.methods"
METHODS_PATH_ENV = "LONGCTX_EVAL_METHODS_PATH"
ROPE_TYPE = "longctx_eval"
# transformers recomputes the frequencies of a rope type whose name contains "dynamic" from each
# forward pass's length (its `dynamic_rope_update`): that is how a length-dependent plugin is asked.
ROPE_TYPE_DYNAMIC = "longctx_eval_dynamic"
PLUGIN_ROPE_TYPES = (ROPE_TYPE, ROPE_TYPE_DYNAMIC)

F = TypeVar("F", bound=Callable[..., Any])


class MethodPluginError(ValueError):
    """A plugin that raised or returned something unusable; the message names its file."""


@dataclass(frozen=True)
class Frequencies:
    """What a method gives a model: one inverse frequency per rotary pair (θ'_i, radians per token)
    and the factor cos and sin are multiplied by (YaRN's temperature; 1 for most methods)."""

    inv_freq: Sequence[float]
    attention_factor: float = 1.0


def rope_method(
    name: str,
    params: type[MethodParams] = NoParams,
    *,
    length_dependent: bool = False,
    takes_factor: bool = True,
    summary: str | None = None,
) -> Callable[[F], F]:
    """Decorator: register `fn(base, factor, params, length) -> Frequencies` as method `name`.

    `length` is None for a static method; a length-dependent one is asked at max(current length, L).
    The summary `ls` shows defaults to the first line of the function's docstring."""

    def register(fn: F) -> F:
        source = inspect.getsourcefile(fn) or getattr(sys.modules.get(fn.__module__), "__file__", None)
        digest = _source_digest(source)
        method = Method(
            name=name,
            summary=summary or (inspect.getdoc(fn) or "").split("\n")[0] or f"method plugin {name}",
            params_model=params,
            build=_builder(name, takes_factor, length_dependent, digest),
            takes_factor=takes_factor,
            frequencies=fn,
            length_dependent=length_dependent,
            source=str(Path(source).resolve()) if source else fn.__module__,
        )
        existing = METHODS.get(name) if name in METHODS.names() else None
        if existing is not None and existing.frequencies is not fn:
            where = existing.source or "the built-in methods"
            raise ValueError(f"method {name!r} is already registered (by {where}); this one is in {source}")
        METHODS.add(name, method)
        return fn

    return register


def _source_digest(source: str | None) -> str:
    """The plugin file's content hash: part of the cell ids, so an edited plugin runs again."""
    if source is None or not Path(source).is_file():
        return "unknown"
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]


def _builder(
    name: str, takes_factor: bool, length_dependent: bool, digest: str
) -> Callable[[RopeBase, float, Any], RopeSetting]:
    def build(base: RopeBase, factor: float, params: Any) -> RopeSetting:
        if takes_factor:
            check_factor(factor)
        rope = {
            "rope_type": ROPE_TYPE_DYNAMIC if length_dependent else ROPE_TYPE,
            "rope_theta": base.rope_theta,
            "method": name,
            "factor": factor,
            "params": params.model_dump(mode="json"),
            "source_sha": digest,
            "original_max_position_embeddings": base.original_context,
            # Everything the plugin is given, so the init function needs nothing but this dict
            # (a Ray worker, a rotary module rebuilt by the HF backend).
            "base": dataclasses.asdict(base),
        }
        # Dynamic types start recomputing past max_position_embeddings: at L, as dynamic NTK.
        max_pos = (
            base.original_context
            if length_dependent
            else max(base.max_position_embeddings, math.ceil(base.original_context * factor))
        )
        return RopeSetting(rope, max_pos)

    return build


def is_plugin_setting(rope_parameters: dict[str, Any]) -> bool:
    return rope_parameters.get("rope_type") in PLUGIN_ROPE_TYPES


def who(method: Method) -> str:
    return f"method plugin {method.name!r} ({method.source})"


def plugin_frequencies(rope_parameters: dict[str, Any], length: int | None = None) -> Frequencies:
    """Call the plugin a setting names, and check what it returns (raises MethodPluginError)."""
    method = METHODS.get(str(rope_parameters["method"]))
    base = RopeBase(**rope_parameters["base"])
    params = method.params_model.model_validate(rope_parameters["params"])
    at = max(int(length or 0), base.original_context) if method.length_dependent else None
    assert method.frequencies is not None
    try:
        result = method.frequencies(base, float(rope_parameters["factor"]), params, at)
    except MethodPluginError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise MethodPluginError(
            f"{who(method)} raised {type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")
        ) from exc
    if isinstance(result, tuple) and len(result) == 2:
        result = Frequencies(result[0], result[1])
    if not isinstance(result, Frequencies):
        raise MethodPluginError(f"{who(method)} returned {type(result).__name__}, not Frequencies")
    inv = check_frequencies(result.inv_freq, result.attention_factor, base, who(method))
    return Frequencies(inv, float(result.attention_factor))


def check_frequencies(
    inv_freq: Any, attention_factor: Any, base: RopeBase, source: str, allow_zero: bool = False
) -> list[float]:
    """One finite, positive frequency per rotary pair and a finite, positive attention factor
    (zeros allowed only where the method stops pairs on purpose: p-RoPE, NoPE)."""
    try:
        values = [float(v) for v in _flat(inv_freq)]
    except (TypeError, ValueError) as exc:
        raise MethodPluginError(f"{source} returned frequencies that are not numbers ({exc})") from None
    if len(values) != base.n_pairs:
        raise MethodPluginError(
            f"{source} returned {len(values)} frequencies; the model has {base.n_pairs} rotary pairs "
            f"(rotary dim {base.rotary_dim})"
        )
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise MethodPluginError(f"{source} returned non-finite frequencies at pairs {_pairs(bad)}")
    bad = [i for i, v in enumerate(values) if v < 0 or (v == 0 and not allow_zero)]
    if bad:
        raise MethodPluginError(
            f"{source} returned zero or negative frequencies at pairs {_pairs(bad)} (a frequency must be > 0)"
        )
    try:
        factor = float(attention_factor)
    except (TypeError, ValueError):
        raise MethodPluginError(f"{source} returned attention factor {attention_factor!r}") from None
    if not math.isfinite(factor) or factor <= 0:
        raise MethodPluginError(f"{source} returned attention factor {factor!r} (must be finite and > 0)")
    return values


def _flat(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):  # numpy arrays and torch tensors
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or any(isinstance(v, (list, tuple)) for v in values):
        raise TypeError(f"expected a flat sequence, got {type(values).__name__}")
    return list(values)


def _pairs(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:6])
    return shown + (f" (and {len(indices) - 6} more)" if len(indices) > 6 else "")


def builtin_frequencies(
    base: RopeBase, method: str, factor: float = 1.0, params: MethodParams | None = None
) -> Frequencies:
    """A built-in method's frequencies as transformers computes them (for plugins that build on
    one: Resonance YaRN rounds YaRN's wavelengths)."""
    from longctx_eval.rope.frequencies import frequencies_of_setting

    setting = ScalingSpec(method, factor, params).resolve(base)
    inv, attention = frequencies_of_setting(base, setting)
    return Frequencies(inv, attention)


VLLM_REFUSAL = (
    "depends on the sequence length, and vLLM serves one static set of frequencies per engine: "
    "run it on the hf backend"
)


def as_longrope(setting: RopeSetting, needed: int) -> dict[str, Any]:
    """A static plugin's frequencies as LongRoPE rescale factors λ_i = θ_i / θ'_i (short = long)
    with its attention factor: the rope parameters a vLLM engine serving `needed` tokens gets.

    vLLM computes θ'_i = 1 / (λ_i · b^(2i/d)) in float32, so λ_i is taken against exactly that
    base; the cos/sin cache then matches the plugin's frequencies to float32 rounding."""
    rope = setting.rope_parameters
    method = METHODS.get(str(rope["method"]))
    if method.length_dependent:
        raise MethodPluginError(f"{who(method)} {VLLM_REFUSAL}")
    freqs = plugin_frequencies(rope)
    base = RopeBase(**rope["base"])
    d = base.rotary_dim
    factors = [1.0 / (theta * base.rope_theta ** (2 * i / d)) for i, theta in enumerate(freqs.inv_freq)]
    return {
        "rope_type": "longrope",
        "rope_theta": base.rope_theta,
        "short_factor": factors,
        "long_factor": factors,
        "original_max_position_embeddings": base.original_context,
        "short_mscale": freqs.attention_factor,
        "long_mscale": freqs.attention_factor,
        **({"partial_rotary_factor": base.partial_rotary_factor} if base.partial_rotary_factor != 1 else {}),
    }


_loaded_entry_points = False


def load_method_plugins(paths: Sequence[str | Path] = ()) -> None:
    """Register the methods of every installed plugin, then those found under `paths`."""
    global _loaded_entry_points
    if not _loaded_entry_points:
        _loaded_entry_points = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # a broken third-party plugin must not stop the others
                warnings.warn(f"method plugin {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
    env_paths = [p for p in os.environ.get(METHODS_PATH_ENV, "").split(os.pathsep) if p]
    for path in [*env_paths, *paths]:
        for file in plugin_files(Path(path), "methods path"):
            import_plugin_file(file, "method plugin")
