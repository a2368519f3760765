"""Frequency usage (Barbero et al. 2024, "Round and Round We Go!"): which rotary frequencies a
model really uses, and what each context-extension method does to them.

    from longctx_eval.usage import analyze
    result = analyze("models/reference", "data/reference_docs.jsonl", 256,
                     methods=[("yarn", 8.0), ("pi", 8.0)], target_lengths=[2048])

Modules, one job each: `capture` (hooks that take q/k/v before rotation, one layer at a time),
`pairs` (rotary pair geometry), `attention` (entropy, distance, offsets, band contrast), `measure`
(one sequence → per-layer numbers), `norms`, `positional`, `decay`, `ood`, `documents`, `summary`
(measured layers → the reported figures, for `analyze` and the `analysis` task alike), `result`
(pydantic models of `analyze`'s result), `records` (the `analysis` task's metrics and samples),
`api` (`analyze`) and `plots` (PNG pictures). `result`, `records` and `plots` import no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longctx_eval.usage.api import analyze, method_spec
    from longctx_eval.usage.capture import UsageError
    from longctx_eval.usage.result import UsageResult

__all__ = ["UsageError", "UsageResult", "analyze", "method_spec"]

# Resolved on first use (PEP 562): the report draws `plots` and reads `result` from stored numbers,
# and importing this package must not pull in torch and transformers for that.
_LAZY = {
    "analyze": "longctx_eval.usage.api",
    "method_spec": "longctx_eval.usage.api",
    "UsageError": "longctx_eval.usage.capture",
    "UsageResult": "longctx_eval.usage.result",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
