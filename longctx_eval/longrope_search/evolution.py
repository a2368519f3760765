"""LongRoPE's evolutionary search over per-pair rescale factors (Ding et al. 2024, §3.2).

A candidate is one factor per rotary pair (frequency i is divided by factor i), kept on a grid of
`step` (0.01), within [low, high] (the paper: [1, 1.25·s]) and monotone non-decreasing over pairs
(low-frequency pairs are interpolated at least as much as higher ones). Every operator ends with
`repair`, so no candidate outside those constraints is ever evaluated.

Each generation keeps the best `parents` of everything seen so far (elitism), then makes
`mutations` children (each factor moved with probability `mutation_prob`) and `crossovers`
children (each factor taken from one of two parents). Candidates are cached by their factors, so a
repeat costs nothing. The paper's values: population 64, 16 mutations + 16 crossovers per
generation, mutation probability 0.3, 40 generations, top 32 kept as parents.

Written by hand because no maintained library implements LongRoPE's search (the released code is
a research script); the operators follow the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Candidate = tuple[float, ...]


@dataclass(frozen=True)
class SearchSpace:
    n_pairs: int
    low: float
    high: float
    step: float = 0.01

    def repair(self, values: Sequence[float] | np.ndarray) -> Candidate:
        """Onto the grid, within bounds, monotone non-decreasing (running maximum)."""
        x = np.clip(np.asarray(values, dtype=np.float64), self.low, self.high)
        x = np.maximum.accumulate(x)
        x = np.round(x / self.step) * self.step
        x = np.clip(x, self.low, self.high)
        return tuple(float(round(v, 6)) for v in x)

    def valid(self, c: Sequence[float]) -> bool:
        x = np.asarray(c)
        on_grid = np.allclose(np.round(x / self.step) * self.step, x, atol=1e-9)
        return bool(
            len(x) == self.n_pairs
            and on_grid
            and (x >= self.low - 1e-9).all()
            and (x <= self.high + 1e-9).all()
            and (np.diff(x) >= -1e-9).all()
        )


@dataclass(frozen=True)
class EvolutionSettings:
    population: int = 16
    generations: int = 6
    parents: int = 8
    mutations: int = 6
    crossovers: int = 6
    mutation_prob: float = 0.3
    mutation_scale: float = 0.25  # std of a move, as a fraction of (high - low)

    @classmethod
    def paper(cls) -> EvolutionSettings:
        return cls(population=64, generations=40, parents=32, mutations=16, crossovers=16, mutation_prob=0.3)


@dataclass
class SearchState:
    """Everything needed to resume: what was evaluated, the parents, the rng, the history."""

    generation: int = 0
    scores: dict[Candidate, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rng_state: Mapping[str, Any] | None = None

    def best(self, k: int = 1) -> list[tuple[Candidate, float]]:
        return sorted(self.scores.items(), key=lambda kv: (kv[1], kv[0]))[:k]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "scores": [[list(c), s] for c, s in self.scores.items()],
            "history": self.history,
            "rng_state": self.rng_state,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchState:
        return cls(
            generation=int(data["generation"]),
            scores={tuple(c): float(s) for c, s in data["scores"]},
            history=list(data["history"]),
            rng_state=data.get("rng_state"),
        )


def mutate(
    space: SearchSpace, parent: Candidate, settings: EvolutionSettings, rng: np.random.Generator
) -> Candidate:
    x = np.asarray(parent, dtype=np.float64)
    moved = rng.random(space.n_pairs) < settings.mutation_prob
    if not moved.any():
        moved[rng.integers(space.n_pairs)] = True
    x[moved] += rng.normal(0.0, settings.mutation_scale * (space.high - space.low), int(moved.sum()))
    return space.repair(x)


def crossover(space: SearchSpace, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
    take_a = rng.random(space.n_pairs) < 0.5
    return space.repair(np.where(take_a, a, b))


Evaluate = Callable[[list[Candidate]], list[float]]
OnGeneration = Callable[[SearchState], None]


def evolve(
    space: SearchSpace,
    seeds: Sequence[Candidate],
    evaluate: Evaluate,
    settings: EvolutionSettings,
    rng_seed: int,
    state: SearchState | None = None,
    on_generation: OnGeneration | None = None,
) -> SearchState:
    """Run (or resume) the search; `evaluate` scores candidates, lower is better (perplexity)."""
    state = state or SearchState()
    rng = np.random.default_rng(rng_seed)
    if state.rng_state is not None:
        rng.bit_generator.state = state.rng_state

    def score(cands: list[Candidate]) -> None:
        new = list(dict.fromkeys(c for c in cands if c not in state.scores))
        if new:
            state.scores.update(zip(new, evaluate(new), strict=True))

    if state.generation == 0 and not state.history:
        first = [space.repair(s) for s in seeds]
        while len(first) < settings.population:  # fill with mutations of the seeds
            first.append(mutate(space, first[int(rng.integers(len(seeds)))], settings, rng))
        score(first)
        _record(state, 0)
        state.rng_state = rng.bit_generator.state
        if on_generation:
            on_generation(state)
    while state.generation < settings.generations:
        parents = [c for c, _ in state.best(settings.parents)]
        children = [
            mutate(space, parents[int(rng.integers(len(parents)))], settings, rng)
            for _ in range(settings.mutations)
        ]
        for _ in range(settings.crossovers):
            i, j = rng.choice(len(parents), size=2, replace=len(parents) < 2)
            children.append(crossover(space, parents[int(i)], parents[int(j)], rng))
        score(children)
        state.generation += 1
        _record(state, state.generation)
        state.rng_state = rng.bit_generator.state
        if on_generation:
            on_generation(state)
    return state


def _record(state: SearchState, generation: int) -> None:
    ((_, value),) = state.best(1)
    state.history.append({"generation": generation, "best_ppl": value, "evaluated": len(state.scores)})
