"""What the retrieval tasks (passkey, NIAH, and users' own) share.

Settings common to "hide a needle in filler, ask for it back", the haystack they read, and one
run: fit every prompt to the cell's length, generate greedily in one batch, score each output,
and aggregate into accuracy with a Wilson 95% interval.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, PositiveInt

from longctx_eval.data import DatasetError, load_documents, resolve_source
from longctx_eval.haystack import BuiltPrompt, Haystack, PromptParts, build_prompt
from longctx_eval.payloads import RetrievalMetrics, RetrievalSample
from longctx_eval.records import Sample
from longctx_eval.stats import wilson_interval
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, TaskParamError, TaskParams, data_file_field


class RetrievalParams(TaskParams):
    haystack: str = data_file_field(
        "noise",
        description="'noise' (the repeated filler sentences), or a local .txt/.jsonl/.parquet file or "
        "hub dataset id whose documents, joined, make the filler",
    )
    haystack_column: str = Field("text", description="text column of a haystack dataset")
    haystack_split: str = Field("train", description="split of a hub haystack dataset")
    max_new_tokens: PositiveInt = Field(16, description="generation budget per sample (greedy)")
    check_retokenization: bool = Field(
        True, description="record whether each prompt re-tokenizes to the same ids (costs one encode)"
    )


def template_fields(text: str, required: set[str], allowed: set[str]) -> str:
    """Check a prompt string's `{placeholders}` (a field validator's body): the required ones are
    there and no other is, so a typo fails at parse time and not as a KeyError in every cell, and a
    needle without its `{key}` is not run with every sample scoring 0."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    unknown = names - allowed
    if unknown:
        shown = ", ".join("{" + n + "}" for n in sorted(unknown))
        valid = ", ".join("{" + n + "}" for n in sorted(allowed)) or "none"
        raise ValueError(f"unknown placeholder {shown} (this field takes: {valid})")
    missing = required - names
    if missing:
        raise ValueError(f"must contain {', '.join('{' + n + '}' for n in sorted(missing))}")
    return text


@dataclass(frozen=True)
class Probe:
    """One sample before it is run: its prompt pieces, depth, and the answer that scores."""

    parts: PromptParts
    depth: float
    target: str
    extra: dict[str, Any]


def haystack_for(params: RetrievalParams, env: TaskEnv) -> Callable[[], Haystack]:
    """A loader for the task's haystack; a missing local file is reported at set-up."""
    if params.haystack == "noise":
        return Haystack.noise
    try:
        source = resolve_source(params.haystack, env.resolve_path)
    except DatasetError as exc:
        raise TaskParamError("haystack", str(exc)) from None
    return lambda: _dataset_haystack(source, params.haystack_column, params.haystack_split)


@lru_cache(maxsize=8)
def _dataset_haystack(source: str, column: str, split: str) -> Haystack:
    return Haystack("\n\n".join(load_documents(source, column, split)), source)


Scoring = Literal["strict", "lenient"]
# Needles snap back to the last sentence end before the requested depth; beyond this share of the
# filler the depth axis of a heatmap no longer says where the needles were.
DEPTH_TOLERANCE = 0.05
_FIRST_INTEGER = re.compile(r"\d+")
_FIRST_WORD = re.compile(r"\w[\w-]*")


def strict_score(output: str, target: str) -> float:
    """1 when the answer's first number (for a numeric target; else its first word) is the target:
    the passkey test's rule (YaRN's and Landmark Attention's scripts). "115252" for 11525 fails."""
    pattern = _FIRST_INTEGER if target.isdigit() else _FIRST_WORD
    match = pattern.search(output)
    return float(match is not None and match.group().lower() == target.lower())


def lenient_score(output: str, target: str) -> float:
    """1 when the target appears anywhere in the output (case-insensitive): RULER's string match.
    "115252" for 11525 passes."""
    return float(target.lower() in output.lower())


def scoring_field(default: Scoring) -> Any:
    return Field(
        default,
        description="what the metric counts: 'strict' (the first number of the answer is the target; "
        "passkey's rule) or 'lenient' (the target appears anywhere in the answer; RULER's rule); "
        "both are recorded",
    )


def run_retrieval(
    ctx: CellContext,
    params: RetrievalParams,
    haystack: Haystack,
    probes: Sequence[Probe],
    scoring: Scoring,
    sample_class: type[RetrievalSample] = RetrievalSample,
) -> CellOutcome:
    """Fit every prompt, generate greedily in one batch, score each output both ways; `scoring`
    picks which one is the cell's `accuracy`. Each sample is a `sample_class` (a task's subclass
    declares the fields its probes' `extra` adds)."""
    prompts: list[BuiltPrompt] = [
        build_prompt(ctx.prompts, haystack, p.parts, ctx.length, p.depth) for p in probes
    ]
    outputs = ctx.lm.generate([p.ids for p in prompts], params.max_new_tokens)
    samples = []
    for i, (probe, prompt, out) in enumerate(zip(probes, prompts, outputs, strict=True)):
        strict, lenient = strict_score(out.text, probe.target), lenient_score(out.text, probe.target)
        samples.append(
            sample_class(
                index=i,
                n_prompt_tokens=len(prompt.ids),
                needle_token_offset=prompt.needle_token_offset,
                needle_tokens=prompt.needle_tokens,
                depth=prompt.depth,
                depth_requested=probe.depth,
                filler_depth=prompt.filler_depth,
                target=probe.target,
                output=out.text,
                score_strict=strict,
                score_lenient=lenient,
                score=strict if scoring == "strict" else lenient,
                cut_mid_word=prompt.cut_mid_word,
                haystack_start_word=prompt.haystack_start_word,
                retokenizes_exactly=(
                    ctx.prompts.retokenizes_exactly(prompt.ids) if params.check_retokenization else None
                ),
                **probe.extra,
            )
        )
    return CellOutcome(metrics=retrieval_metrics(samples, scoring), samples=samples)


def retrieval_metrics(samples: Sequence[RetrievalSample], scoring: Scoring) -> RetrievalMetrics:
    """Accuracy under `scoring` with its Wilson interval, both rules' accuracy, and how far the
    needles landed from their requested depths."""
    drifts = [abs(x.filler_depth - x.depth_requested) for x in samples if x.filler_depth is not None]
    drift = max(drifts, default=0.0)
    warning = None
    if drift > DEPTH_TOLERANCE:
        warning = (
            f"needles landed up to {drift:.2f} of the filler before their requested depth: the "
            "haystack has few sentence ends (the needle goes at the last one before the depth)"
        )
    n = max(1, len(samples))
    return RetrievalMetrics(
        **accuracy_of([x.score or 0.0 for x in samples]),
        scoring=scoring,
        depth_drift=drift,
        depth_warning=warning,
        accuracy_strict=sum(x.score_strict or 0.0 for x in samples) / n,
        accuracy_lenient=sum(x.score_lenient or 0.0 for x in samples) / n,
    )


def accuracy_of(scores: Sequence[float]) -> dict[str, Any]:
    """accuracy, n and the Wilson 95% interval of 0/1 scores (fields of `records.Metrics`)."""
    n = len(scores)
    correct = float(sum(scores))
    low, high = wilson_interval(correct, n)
    return {"accuracy": correct / n if n else float("nan"), "n": n, "ci_low": low, "ci_high": high}


def accuracy_metrics(samples: Sequence[Sample | dict[str, Any]]) -> dict[str, Any]:
    """`accuracy_of` the samples' `score` (typed samples, or a plugin's dicts)."""
    return accuracy_of([float(s["score"] if isinstance(s, dict) else (s.score or 0.0)) for s in samples])
