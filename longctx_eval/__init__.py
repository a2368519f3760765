"""longctx-eval: how far does a model's context really reach, and which RoPE method gets it furthest?

The public API (see `longctx_eval.api`): `run`, `validate`, `report`, `compare`, `load_results`,
`rope_table`, `analyze`, and `ConfigError`. Importing the package is cheap: torch and transformers load only
when a function needs them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ReportOptions",
    "analyze",
    "compare",
    "load_results",
    "report",
    "rope_table",
    "run",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name == "ConfigError":
        from longctx_eval.config import ConfigError

        return ConfigError
    if name == "ReportOptions":
        from longctx_eval.reporting.effective import ReportOptions

        return ReportOptions
    if name in __all__:
        from longctx_eval import api

        return getattr(api, name)
    raise AttributeError(f"module 'longctx_eval' has no attribute {name!r}")
