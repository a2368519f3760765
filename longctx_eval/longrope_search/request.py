"""A LongRoPE search request as a typed object (what `api.longrope_search` takes), its checks with
every problem named by field, and the search it starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.errors import ConfigError
from longctx_eval.longrope_search.evolution import EvolutionSettings, SearchState
from longctx_eval.longrope_search.search import OBJECTIVE_MODES, SearchError, SearchSettings, run_search
from longctx_eval.rope.longrope_factors import LongRopeFactors


class SearchRequest(BaseModel):
    """Everything a LongRoPE factor search is asked with; the command line's options, one to one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="model directory or hub id")
    target_length: int = Field(description="length the factors are searched for (tokens)")
    dataset: str = Field(
        description="documents for the perplexity objective (.txt/.jsonl/.parquet or hub id)"
    )
    output: Path = Field(description="factors JSON to write (a sweep reads it with factors_file:)")
    factor: float | None = Field(None, description="scale factor s (default: target length / L)")
    documents: int = Field(3, description="documents in the objective")
    held_out: int = Field(2, description="further documents the result is checked on")
    column: str = Field("text", description="text column of the dataset")
    population: int = Field(16, description="first generation's size")
    generations: int = Field(6, description="generations after the first")
    parents: int = Field(8, description="best candidates kept as parents (elitism)")
    mutations: int = Field(6, description="mutated children per generation")
    crossovers: int = Field(6, description="crossover children per generation")
    mutation_prob: float = Field(0.3, description="probability each factor is moved")
    high_multiple: float = Field(1.25, description="factors searched in [1, this × s]")
    paper: bool = Field(False, description="the paper's settings: 64 / 40 gens / 32 / 16 / 16 / 0.3")
    original_context: int | None = Field(None, description="override the trained context L")
    seed: int = Field(0, description="random seed of the search")
    objective: str = Field("ppl", description="what the search minimises: ppl, key_tokens or needle")
    evaluator: str | None = Field(None, description="key_tokens: the model that picks the key tokens")
    seed_methods: tuple[str, ...] = Field((), description="more seeds: static methods, NAME or NAME@FACTOR")

    def problems(self) -> list[tuple[str, str]]:
        """Every problem with the request, named by field (empty: fine)."""
        out = [
            (name, f"must be >= 1 (got {getattr(self, name)})")
            for name in ("documents", "population", "parents")
            if getattr(self, name) < 1
        ]
        if not 0 <= self.mutation_prob <= 1:
            out.append(("mutation_prob", f"must be within [0, 1] (got {self.mutation_prob:g})"))
        if self.high_multiple < 1:
            out.append(("high_multiple", f"must be >= 1 (got {self.high_multiple:g})"))
        if self.objective not in OBJECTIVE_MODES:
            out.append(("objective", f"one of {', '.join(OBJECTIVE_MODES)} (got {self.objective!r})"))
        return out

    def evolution(self) -> EvolutionSettings:
        if self.paper:
            return EvolutionSettings.paper()
        return EvolutionSettings(
            self.population,
            self.generations,
            self.parents,
            self.mutations,
            self.crossovers,
            self.mutation_prob,
        )


def search(request: SearchRequest, on_progress: Callable[[str], None] | None = None) -> LongRopeFactors:
    """Check the request (ConfigError, every problem at once), then search and write the factors."""
    from longctx_eval.models import ModelNotFound, resolve_model

    problems = request.problems()
    if problems:
        raise ConfigError(problems)
    try:
        resolve_model(request.model, tokenizer=False)  # a clear error for a bad path before anything loads
    except ModelNotFound as exc:
        raise ConfigError([("model", str(exc))]) from None
    evolution = request.evolution()
    r = request
    settings = SearchSettings(
        model=r.model,
        target_length=r.target_length,
        dataset=r.dataset,
        factor=r.factor,
        original_context=r.original_context,
        column=r.column,
        documents=r.documents,
        held_out=r.held_out,
        high_multiple=r.high_multiple,
        seed=r.seed,
        evolution=evolution,
        objective=cast(Literal["ppl", "key_tokens", "needle"], r.objective),  # checked above
        evaluator=r.evaluator,
        seed_methods=r.seed_methods,
    )

    def show(state: SearchState) -> None:
        h = state.history[-1]
        if on_progress is not None:
            on_progress(
                f"generation {h['generation']}/{evolution.generations}: best ppl {h['best_ppl']:.4g} "
                f"({h['evaluated']} candidates evaluated)"
            )

    try:
        return run_search(settings, request.output, on_generation=show)
    except SearchError as exc:
        raise ConfigError([("", str(exc))]) from None
