"""Frequency usage (Barbero et al. 2024, "Round and Round We Go!"): which rotary frequencies a
model really uses, and what each context-extension method does to them.

    from longctx_eval.usage import analyze
    result = analyze("models/reference", "data/reference_docs.jsonl", 256,
                     methods=[("yarn", 8.0), ("pi", 8.0)], target_lengths=[2048])

Modules, one job each: `capture` (hooks that take q/k/v before rotation, one layer at a time),
`pairs` (rotary pair geometry), `attention` (entropy, distance, offsets, band contrast), `measure`
(one sequence → per-layer numbers), `norms`, `positional`, `decay`, `ood`, `documents`, `result`
(pydantic models), `api` (`analyze`) and `plots` (PNG pictures).
"""

from longctx_eval.usage.api import analyze, method_spec
from longctx_eval.usage.capture import UsageError
from longctx_eval.usage.result import UsageResult

__all__ = ["UsageError", "UsageResult", "analyze", "method_spec"]
