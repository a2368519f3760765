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

from longctx_eval.models import load_causal_lm
from longctx_eval.rope.base import read_rope_base, scaled_config
from longctx_eval.rope.frequencies import rotary_modules
from longctx_eval.rope.longrope_factors import load_factors
from longctx_eval.rope.methods import METHODS, MethodParams, RopeSetting, ScalingSpec
from longctx_eval.usage import summary
from longctx_eval.usage.capture import UsageError
from longctx_eval.usage.documents import document_ids, leading_ids
from longctx_eval.usage.measure import measure_all, measure_documents
from longctx_eval.usage.ood import ood_share
from longctx_eval.usage.result import UsageResult

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
    real, mixed = measure_documents(torch_model, docs, offsets, keep, seed, shuffle)
    found = summary.offsets(real, mixed, positional_threshold)
    attention = [summary.method_attention(specs[0], real, found.best)]
    for spec in specs[1:]:
        with rotary_setting(torch_model, config, spec.resolve(base)):
            layers = measure_all(torch_model, [ids for _, ids in docs], offsets)
        attention.append(summary.method_attention(spec, layers, found.best))
    decay = [
        summary.decay_curves(
            _config_for(config, spec.resolve(base)), length, real, decay_points, gaussian_samples, seed, spec
        )
        for spec in specs
    ]
    weight = summary.pair_weight(real)
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
        inv_freq=decay[0].inv_freq,  # "none": the model's own frequencies at `length`
        **summary.norm_grids(real),
        qk_band_share=summary.qk_band_share(real),
        offsets=offsets,
        offset_profile=found.profile.tolist(),
        offset_profile_shuffled=None if found.shuffled is None else found.shuffled.tolist(),
        band_contrast=found.contrast.tolist(),
        positional_heads=found.heads[:top_heads],
        attention=attention,
        decay=decay,
        ood=[
            ood_share(config, base, spec.resolve(base), target, weight, spec)
            for spec in specs
            for target in (target_lengths or [length])
        ],
        check_error=summary.check_error(real),
    )


def _resolve(model: str | Any, tokenizer: Any, dtype: str, device: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, name): loaded from a directory or hub id, or as given."""
    if isinstance(model, str):
        loaded, tok = load_model(model, dtype, device)
        return loaded, tok, model
    if tokenizer is None:
        raise ValueError("a loaded model needs its tokenizer (tokenizer=...)")
    return model.eval(), tokenizer, type(model).__name__


def _config_for(config: Any, setting: RopeSetting) -> Any:
    return scaled_config(config, setting.rope_parameters, setting.max_position_embeddings)
