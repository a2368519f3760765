"""`analyze`: the frequency-usage analysis of one model at one length, under its rope and methods.

What it runs: the model's decoder on the first N tokens of K documents (one sequence per forward
pass), once on the text and once on the same tokens shuffled, then once more per method with the
method's rotary module swapped in (as the HF backend swaps it) for the entropy and distance
figures. Everything else comes from the frequencies transformers computes for each setting.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from longctx_eval.models import load_causal_lm
from longctx_eval.rope.base import RopeBase, read_rope_base, scaled_config
from longctx_eval.rope.frequencies import frequencies_at, rotary_modules
from longctx_eval.rope.longrope_factors import load_factors
from longctx_eval.rope.methods import METHODS, MethodParams, RopeSetting, ScalingSpec
from longctx_eval.usage.capture import UsageError
from longctx_eval.usage.decay import decay_distances, gaussian_decay, model_decay, ones_decay
from longctx_eval.usage.documents import document_ids, leading_ids, shuffled
from longctx_eval.usage.measure import LayerMeasure, mean_over, measure, stacked
from longctx_eval.usage.norms import band_shares, qk_bound
from longctx_eval.usage.ood import ood_share
from longctx_eval.usage.positional import at_offsets, positional_heads
from longctx_eval.usage.result import DecayCurves, MethodAttention, UsageResult

MethodArg = ScalingSpec | tuple[str, float] | tuple[str, float, MethodParams | Mapping[str, Any] | None]


def method_spec(method: MethodArg) -> ScalingSpec:
    """A ScalingSpec from (name, factor[, params]); params may be a dict of the method's settings, or
    {"factors_file": path} for longrope (the file's factor then replaces `factor`)."""
    if isinstance(method, ScalingSpec):
        return method
    name, factor = method[0], float(method[1])
    raw = method[2] if len(method) > 2 else None
    params: MethodParams | None
    if isinstance(raw, Mapping):
        settings = dict(raw)
        file = settings.pop("factors_file", None)
        if file is not None:
            factors = load_factors(Path(file))
            params, factor = factors.params(str(file)), factors.factor
        else:
            params = METHODS.get(name).params_model.model_validate(settings)
    else:
        params = raw
    return ScalingSpec(name, factor, params)


def load_model(model: str, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) from a local directory or a hub id, through transformers' Auto classes."""
    loaded, tokenizer = load_causal_lm(model, dtype)
    return loaded.to(device), tokenizer


@contextmanager
def rotary_setting(model: Any, config: Any, setting: RopeSetting) -> Iterator[None]:
    """Inside, `model` runs with `setting`'s rotary module; the original modules are put back after."""
    from longctx_eval.backends.hf import swap_rotary

    originals = rotary_modules(model)
    swap_rotary(model, scaled_config(config, setting.rope_parameters, setting.max_position_embeddings))
    try:
        yield
    finally:
        for name, module in originals:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, module)


def analyze(
    model: str | Any,
    dataset: str,
    length: int,
    *,
    documents: int = 4,
    methods: Sequence[MethodArg] = (),
    column: str = "text",
    split: str = "train",
    subset: str | None = None,
    tokenizer: Any = None,
    target_lengths: Sequence[int] | None = None,
    original_context: int | None = None,
    offsets: int = 8,
    shuffle: bool = True,
    seed: int = 0,
    gaussian_samples: int = 1024,
    decay_points: int = 256,
    top_heads: int = 8,
    positional_threshold: float = 0.5,
    dtype: str = "float32",
    device: str = "cpu",
) -> UsageResult:
    """Measure which rotary frequencies `model` uses on `dataset` at `length` tokens.

    `model` is a directory or hub id (loaded with `dtype` on `device`), or a loaded transformers
    model together with `tokenizer`. `methods` are compared with the model's own rope ("none",
    always included); the out-of-distribution share is given at each of `target_lengths`
    (default: `length`) with the norms measured here.
    """
    torch_model, tokenizer, name = _resolve(model, tokenizer, dtype, device)
    config = copy.deepcopy(torch_model.config)
    base = read_rope_base(config, original_context)
    specs = [ScalingSpec("none"), *(s for s in map(method_spec, methods) if s.method != "none")]
    docs = document_ids(tokenizer, dataset, length, documents, column, split, subset)
    if not docs:
        raise UsageError(f"no document of {dataset} has {length} tokens")
    keep = len(leading_ids(tokenizer))
    real = _measure_all(torch_model, [ids for _, ids in docs], offsets)
    mixed = None
    if shuffle:
        mixed = _measure_all(torch_model, [shuffled(ids, keep, seed + i) for i, ids in docs], offsets)
    best = stacked(real, "offset_profile").argmax(axis=-1)
    attention = [method_attention(specs[0], real, best)]
    for spec in specs[1:]:
        with rotary_setting(torch_model, config, spec.resolve(base)):
            layers = _measure_all(torch_model, [ids for _, ids in docs], offsets)
        attention.append(method_attention(spec, layers, best))
    weight = qk_bound(stacked(real, "q_norm"), stacked(real, "k_norm")).sum(axis=(0, 1))
    own_freq, _ = frequencies_at(_config_for(config, specs[0].resolve(base)), length)
    return UsageResult(
        model=name,
        dataset=dataset,
        length=length,
        documents=[i for i, _ in docs],
        seed=seed,
        original_context=base.original_context,
        head_dim=base.head_dim,
        rotary_dim=real[0].rotary_dim,
        pass_dims=base.head_dim - real[0].rotary_dim,
        inv_freq=own_freq.tolist(),
        **_norm_fields(real),
        **_offset_fields(real, mixed, offsets, positional_threshold, top_heads),
        attention=attention,
        decay=[
            decay_curves(spec, base, config, length, real, decay_points, gaussian_samples, seed)
            for spec in specs
        ],
        ood=[
            ood_share(config, base, spec.resolve(base), target, weight, spec)
            for spec in specs
            for target in (target_lengths or [length])
        ],
        check_error=float(max(m.check_error for m in real)),
    )


def _resolve(model: str | Any, tokenizer: Any, dtype: str, device: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, name): loaded from a directory or hub id, or as given."""
    if isinstance(model, str):
        loaded, tok = load_model(model, dtype, device)
        return loaded, tok, model
    if tokenizer is None:
        raise ValueError("a loaded model needs its tokenizer (tokenizer=...)")
    return model.eval(), tokenizer, type(model).__name__


def _measure_all(model: Any, sequences: Sequence[Sequence[int]], offsets: int) -> list[LayerMeasure]:
    return mean_over([measure(model, ids, offsets) for ids in sequences])


def _norm_fields(real: Sequence[LayerMeasure]) -> dict[str, Any]:
    q, k = stacked(real, "q_norm"), stacked(real, "k_norm")
    fields: dict[str, Any] = {
        name: stacked(real, name).tolist()
        for name in ("q_norm", "k_norm", "v_norm", "q_pass_norm", "k_pass_norm", "v_pass_norm")
    }
    fields["qk_band_share"] = band_shares(qk_bound(q, k))
    return fields


def _offset_fields(
    real: Sequence[LayerMeasure],
    mixed: Sequence[LayerMeasure] | None,
    offsets: int,
    threshold: float,
    top: int,
) -> dict[str, Any]:
    profile, contrast = stacked(real, "offset_profile"), stacked(real, "band_contrast")
    again = None if mixed is None else stacked(mixed, "offset_profile")
    return {
        "offsets": offsets,
        "offset_profile": profile.tolist(),
        "offset_profile_shuffled": None if again is None else again.tolist(),
        "band_contrast": at_offsets(profile, contrast).tolist(),
        "positional_heads": positional_heads(profile, again, contrast, threshold)[:top],
    }


def _config_for(config: Any, setting: RopeSetting) -> Any:
    return scaled_config(config, setting.rope_parameters, setting.max_position_embeddings)


def method_attention(
    spec: ScalingSpec, layers: Sequence[LayerMeasure], offsets: np.ndarray
) -> MethodAttention:
    """Entropy and distance under `spec`, and each head's mass at its `offsets` [layers, heads]."""
    entropy, distance = stacked(layers, "entropy"), stacked(layers, "mean_distance")
    profile = stacked(layers, "offset_profile")
    return MethodAttention(
        label=spec.label(),
        method=spec.method,
        factor=spec.factor,
        entropy=entropy.mean(axis=1).tolist(),
        entropy_per_head=entropy.tolist(),
        mean_distance=distance.mean(axis=1).tolist(),
        mean_distance_per_head=distance.tolist(),
        offset_share=np.take_along_axis(profile, offsets[..., None], axis=-1)[..., 0].tolist(),
    )


def decay_curves(
    spec: ScalingSpec,
    base: RopeBase,
    config: Any,
    length: int,
    layers: Sequence[LayerMeasure],
    points: int,
    samples: int,
    seed: int,
) -> DecayCurves:
    """The three decay curves under `spec`'s frequencies at `length`, the model's vectors from `layers`."""
    inv, attention = frequencies_at(_config_for(config, spec.resolve(base)), length)
    theta = inv.tolist()
    r = decay_distances(length, points)
    mean, se = gaussian_decay(theta, attention, r, samples, seed)
    return DecayCurves(
        label=spec.label(),
        method=spec.method,
        factor=spec.factor,
        inv_freq=theta,
        attention_factor=attention,
        distances=r,
        ones=ones_decay(theta, attention, r),
        gaussian_mean=mean,
        gaussian_se=se,
        model=[model_decay(m.q_mean, m.k_mean, theta, attention, r) for m in layers],
    )
