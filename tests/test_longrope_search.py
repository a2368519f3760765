"""LongRoPE factor search: constraints on every candidate, seeding, caching, resume, and the factors
file it writes, read back by a sweep and applied by the HF backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoConfig, LlamaConfig

from longctx_eval.longrope_search.evolution import (
    Candidate,
    EvolutionSettings,
    SearchSpace,
    SearchState,
    evolve,
)
from longctx_eval.longrope_search.search import SearchError, SearchSettings, run_search, seed_candidates
from longctx_eval.rope import read_rope_base

SPACE = SearchSpace(n_pairs=16, low=1.0, high=5.0)
TARGET = np.linspace(1.0, 4.0, 16)


class Recorder:
    """A synthetic objective (distance to a monotone target) that remembers every call."""

    def __init__(self) -> None:
        self.seen: list[Candidate] = []

    def __call__(self, cands: list[Candidate]) -> list[float]:
        self.seen += cands
        return [float(np.abs(np.asarray(c) - TARGET).sum()) for c in cands]


SEEDS = [tuple([4.0] * 16), tuple(np.linspace(1, 4, 16) ** 1.5 / 2 + 0.5), tuple([1.0] * 16)]


def test_every_candidate_is_monotone_on_the_grid_and_in_bounds():
    rec = Recorder()
    state = evolve(
        SPACE,
        SEEDS,
        rec,
        EvolutionSettings(population=12, generations=10, parents=6, mutations=8, crossovers=8),
        rng_seed=3,
    )
    assert rec.seen and all(SPACE.valid(c) for c in rec.seen)
    # ... and the search does better than every seed.
    best = state.best(1)[0][1]
    assert best < min(rec(list(map(SPACE.repair, SEEDS))))


def test_repair_enforces_the_constraints():
    c = SPACE.repair([0.2, 3.004, 2.0, 9.0] + [1.0] * 12)
    assert c[:4] == (1.0, 3.0, 3.0, 5.0) and SPACE.valid(c)
    assert not SPACE.valid((2.0, 1.0) + (1.0,) * 14)


def test_seeds_are_evaluated_and_nothing_twice():
    rec = Recorder()
    state = evolve(
        SPACE,
        SEEDS,
        rec,
        EvolutionSettings(population=8, generations=6, parents=4, mutations=6, crossovers=6),
        rng_seed=1,
    )
    assert len(rec.seen) == len(set(rec.seen)) == len(state.scores)  # the cache: no repeat evaluated
    for s in SEEDS:
        assert SPACE.repair(s) in state.scores


def test_resume_continues_exactly_where_it_stopped():
    settings = EvolutionSettings(population=8, generations=5, parents=4, mutations=4, crossovers=4)
    whole = evolve(SPACE, SEEDS, Recorder(), settings, rng_seed=7)
    saved: list[dict[str, Any]] = []
    short = EvolutionSettings(**{**settings.__dict__, "generations": 2})
    evolve(
        SPACE,
        SEEDS,
        Recorder(),
        short,
        rng_seed=7,
        on_generation=lambda st: saved.append(json.loads(json.dumps(st.to_json()))),
    )
    rec = Recorder()
    resumed = evolve(SPACE, SEEDS, rec, settings, rng_seed=7, state=SearchState.from_json(saved[-1]))
    assert resumed.history == whole.history and resumed.scores == whole.scores
    assert not set(rec.seen) & set(SearchState.from_json(saved[-1]).scores)  # nothing re-evaluated


def test_seed_candidates_follow_pi_ntk_and_yarn():
    config = LlamaConfig(hidden_size=4096, num_attention_heads=32, max_position_embeddings=4096)
    base = read_rope_base(config)
    space = SearchSpace(64, 1.0, 10.0)
    seeds = seed_candidates(config, base, 8.0, space)
    assert set(seeds["pi"]) == {8.0}
    assert seeds["ntk"][0] == 1.0 and seeds["ntk"][-1] == pytest.approx(8.0, abs=0.01)  # lowest frequency ÷ s
    assert seeds["yarn"][:20] == (1.0,) * 20 and seeds["yarn"][-10:] == (8.0,) * 10
    assert all(space.valid(s) for s in seeds.values())


def small_search(model_dir: Path, docs: Path, out: Path, generations: int) -> Any:
    settings = SearchSettings(
        model=str(model_dir),
        target_length=256,
        dataset=str(docs),
        documents=2,
        held_out=1,
        evolution=EvolutionSettings(
            population=5, generations=generations, parents=3, mutations=2, crossovers=2
        ),
    )
    return run_search(settings, out)


def test_search_writes_a_factors_file_a_sweep_applies(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.rope.frequencies import rotary_modules

    out = tmp_path / "factors.json"
    result = small_search(tiny_model_dir, docs_file, out, generations=2)
    data = json.loads(out.read_text())
    assert data["searched"] is True and data["factor"] == 4.0 and len(data["long_factor"]) == 16
    search = data["search"]
    assert search["best_ppl"] <= min(search["seed_ppl"].values())
    assert set(search["held_out_ppl"]) == {"best", "pi", "ntk", "yarn"}
    assert [h["generation"] for h in search["history"]] == [0, 1, 2]
    assert data["model"]["fingerprint"] and search["data_fingerprint"].startswith("sha256:")

    # A sweep reads it with factors_file: and the backend rotates with exactly these factors.
    plan = make_plan(
        parse_sweep(
            {
                "name": "t",
                "models": [{"name": "tiny", "path": str(tiny_model_dir)}],
                "methods": [{"method": "longrope", "factors_file": str(out)}],
                "lengths": [200],
                "tasks": [{"task": "perplexity", "dataset": str(docs_file), "documents": 1}],
            }
        )
    )
    cell = plan.cells[0]
    assert cell.spec.label() == "longrope@4"
    backend = HFBackend(HFConfig())
    backend.load(cell.model.entry, cell.model.path)
    backend.apply(cell.setting).token_nll([list(range(3, 203))])  # 200 > L: the long factors are in use
    ((_, rotary),) = rotary_modules(backend.model)
    base = read_rope_base(AutoConfig.from_pretrained(tiny_model_dir))
    expected = torch.tensor(base.base_inv_freq(), dtype=torch.float64) / torch.tensor(
        result.long_factor, dtype=torch.float64
    )
    torch.testing.assert_close(rotary.inv_freq.double(), expected, rtol=1e-6, atol=0)


def test_search_resumes_from_its_state_file_and_refuses_a_foreign_one(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    out = tmp_path / "f.json"
    small_search(tiny_model_dir, docs_file, out, generations=1)
    first = json.loads((tmp_path / "f.json.state.json").read_text())["state"]
    assert first["generation"] == 1
    # The same command with more generations continues the search: nothing done is redone.
    more = small_search(tiny_model_dir, docs_file, out, generations=3)
    assert more.search is not None and [h.generation for h in more.search.history] == [0, 1, 2, 3]
    assert [h.model_dump() for h in more.search.history[:2]] == first["history"]
    again = json.loads((tmp_path / "f.json.state.json").read_text())["state"]
    assert {tuple(c) for c, _ in first["scores"]} <= {tuple(c) for c, _ in again["scores"]}
    with pytest.raises(SearchError, match="other settings"):
        run_search(
            SearchSettings(model=str(tiny_model_dir), target_length=256, dataset=str(docs_file), documents=3),
            out,
        )


@pytest.mark.parametrize(
    ("objective", "extra", "says"),
    [
        ("needle", {}, "answer tokens of 2 passkey episodes"),
        ("key_tokens", {"key_gain": 0.05, "key_max_nll": 50.0}, "key tokens"),
    ],
)
def test_search_objectives_come_from_the_perplexity_task(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path, objective: str, extra: dict[str, Any], says: str
):
    from longctx_eval.longrope_search.search import Evaluator
    from longctx_eval.task import TASKS, load_task_plugins

    settings = SearchSettings(
        model=str(tiny_model_dir),
        target_length=256,
        dataset=str(docs_file),
        documents=2,
        held_out=1,
        objective=objective,  # type: ignore[arg-type]
        objective_settings=extra,
        evolution=EvolutionSettings(population=4, generations=1, parents=2, mutations=2, crossovers=1),
    )
    result = run_search(settings, tmp_path / "f.json")
    search = result.search
    assert search is not None and search.objective is not None and says in search.objective
    assert search.best_ppl <= min(search.seed_ppl.values())
    # The objective is the perplexity task's own number in that mode, found through the registry.
    load_task_plugins()
    task = Evaluator.__new__(Evaluator)
    task.settings = settings
    made = task._task(2)
    assert type(made) is TASKS.get("perplexity") and made.params.mode == objective
    for name, value in extra.items():
        assert getattr(made.params, name) == value


def test_the_search_reaches_the_perplexity_task_through_the_registry():
    import longctx_eval.longrope_search.search as search

    source = Path(search.__file__).read_text()
    assert "longctx_eval_tasks" not in source  # the core never imports a plugin
    assert 'TASKS.get("perplexity")' in source


def test_a_search_made_before_objectives_existed_still_resumes(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    # The identity of a plain perplexity search is what it was before `objective` was a setting.
    out = tmp_path / "f.json"
    small_search(tiny_model_dir, docs_file, out, generations=1)
    identity = json.loads((tmp_path / "f.json.state.json").read_text())["identity"]
    assert not {"objective", "evaluator", "objective_settings"} & set(identity["settings"])
