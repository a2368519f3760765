"""`longctx-eval longrope-search`: the command's options checked (ConfigError), then the search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from longctx_eval.config import ConfigError
from longctx_eval.longrope_search.evolution import EvolutionSettings, SearchState
from longctx_eval.longrope_search.search import OBJECTIVE_MODES, SearchError, SearchSettings, run_search
from longctx_eval.rope.longrope_factors import LongRopeFactors


def search_from_options(
    options: dict[str, Any], on_progress: Callable[[str], None] | None = None
) -> LongRopeFactors:
    """Search with the command line's options (names as the CLI's parameters)."""
    from longctx_eval.models import ModelNotFound, resolve_model

    o = options
    problems = [
        (f"--{name}", f"must be >= 1 (got {o[name]})")
        for name in ("documents", "population", "parents")
        if o[name] < 1
    ]
    if not 0 <= o["mutation_prob"] <= 1:
        problems.append(("--mutation-prob", f"must be within [0, 1] (got {o['mutation_prob']:g})"))
    if o["high_multiple"] < 1:
        problems.append(("--high-multiple", f"must be >= 1 (got {o['high_multiple']:g})"))
    if o["objective"] not in OBJECTIVE_MODES:
        problems.append(("--objective", f"one of {', '.join(OBJECTIVE_MODES)} (got {o['objective']!r})"))
    if problems:
        raise ConfigError(problems)
    try:
        resolve_model(o["model"], tokenizer=False)  # a clear error for a bad path before anything loads
    except ModelNotFound as exc:
        raise ConfigError([("--model", str(exc))]) from None
    evolution = (
        EvolutionSettings.paper()
        if o["paper"]
        else EvolutionSettings(
            o["population"],
            o["generations"],
            o["parents"],
            o["mutations"],
            o["crossovers"],
            o["mutation_prob"],
        )
    )
    settings = SearchSettings(
        model=o["model"],
        target_length=o["target_length"],
        dataset=o["dataset"],
        factor=o["factor"],
        original_context=o["original_context"],
        column=o["column"],
        documents=o["documents"],
        held_out=o["held_out"],
        high_multiple=o["high_multiple"],
        seed=o["seed"],
        evolution=evolution,
        objective=o["objective"],
        evaluator=o["evaluator"],
        seed_methods=tuple(o.get("seed_method") or ()),
    )

    def show(state: SearchState) -> None:
        h = state.history[-1]
        if on_progress is not None:
            on_progress(
                f"generation {h['generation']}/{evolution.generations}: best ppl {h['best_ppl']:.4g} "
                f"({h['evaluated']} candidates evaluated)"
            )

    try:
        return run_search(settings, Path(o["output"]), on_generation=show)
    except SearchError as exc:
        raise ConfigError([("", str(exc))]) from None
