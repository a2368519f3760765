"""The LongRoPE factor search on a model: seeds, objective, resume, and the factors file.

Objective (`objective`), computed by the harness's own perplexity task (found through the task
registry: the core does not import plugins) on the HF backend — the model is loaded once and each
candidate only swaps the rotary module (a vLLM engine start per candidate would cost far more
than the evaluation):
- `ppl` (the paper's): perplexity at the target length on the first `documents` documents;
- `key_tokens` (LongPPL): perplexity on those documents' key tokens only — the tokens the model
  itself at its native length (or `evaluator`) predicts far better with long context; the set is
  picked once, so every candidate is scored on the same tokens;
- `needle` (LongRoPE2's needle-driven objective): perplexity on the answer tokens of `documents`
  passkey episodes whose filler comes from the dataset.
Candidates are LongRoPE *long* factors; the short factors stay 1 (the model's own rope up to L).

Seeds, as in the paper: PI (every factor s), NTK (θ_i / θ'_i with the NTK base) and YaRN
(θ_i / θ'_i of YaRN at the same s), put on the search grid; `seed_methods` adds any other static
method the same way, a method plugin included (NAME, or NAME@FACTOR for another factor than s).
Each seed's perplexity is reported beside the best (its attention factor is LongRoPE's default,
as for the paper's seeds).

Not searched: n̂, the number of initial positions left unscaled. Neither transformers' nor vLLM's
longrope rotary can apply it, so factors found with it could not be evaluated faithfully.

Resume: after every generation the state (evaluated candidates, history, rng) is written next to
the output (`<output>.state.json`); running the same command again continues from there. A state
made with other settings, model or data is refused rather than mixed in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from longctx_eval.identity import fingerprint_data
from longctx_eval.longrope_search.evolution import (
    Candidate,
    EvolutionSettings,
    SearchSpace,
    SearchState,
    evolve,
)
from longctx_eval.payloads import PerplexitySample
from longctx_eval.rope.base import RopeBase, read_rope_base, scaled_config
from longctx_eval.rope.longrope_factors import (
    LongRopeFactors,
    SearchGeneration,
    SearchRecord,
    yarn_derived_factors,
)
from longctx_eval.rope.methods import LongRopeParams, ScalingSpec, split_method
from longctx_eval.store import atomic_write

Objective = Literal["ppl", "key_tokens", "needle"]
OBJECTIVE_MODES = {"ppl": "truncate", "key_tokens": "key_tokens", "needle": "needle"}


class SearchError(ValueError):
    pass


@dataclass(frozen=True)
class SearchSettings:
    model: str
    target_length: int
    dataset: str
    factor: float | None = None  # default: target_length / L
    original_context: int | None = None
    column: str = "text"
    split: str = "train"
    documents: int = 3
    held_out: int = 2
    high_multiple: float = 1.25  # factors searched in [1, high_multiple · s]
    step: float = 0.01
    seed: int = 0
    dtype: str = "float32"
    evolution: EvolutionSettings = field(default_factory=EvolutionSettings)
    objective: Objective = "ppl"
    evaluator: str | None = None  # key_tokens: the model that picks key tokens (default: the model itself)
    objective_settings: dict[str, Any] = field(default_factory=dict)  # more perplexity-task settings
    seed_methods: tuple[str, ...] = ()  # more seeds: static methods (plugins too), NAME or NAME@FACTOR


@dataclass
class Evaluator:
    """Perplexity of candidates at the target length, through the perplexity task."""

    backend: Any
    base: RopeBase
    factor: float
    settings: SearchSettings
    _model_cache: dict[str, Any] = field(default_factory=dict)
    _others: dict[str, Any] = field(default_factory=dict)  # an evaluator model, loaded once

    def _task(self, documents: int) -> Any:
        from longctx_eval.task import TASKS, TaskEnv, load_task_plugins

        load_task_plugins()
        perplexity = TASKS.get("perplexity")
        s = self.settings
        settings: dict[str, Any] = {
            "dataset": s.dataset,
            "column": s.column,
            "split": s.split,
            "documents": documents,
            "mode": OBJECTIVE_MODES[s.objective],
        }
        if s.evaluator is not None:
            settings["evaluator"] = s.evaluator
        settings.update(s.objective_settings)  # e.g. key_gain, needle_task
        return perplexity(perplexity.Params.model_validate(settings), TaskEnv(resolve_path=Path))

    def per_document(self, long_factor: Candidate, documents: int) -> list[PerplexitySample]:
        """Per-document NLL sums and token counts of the first `documents` long-enough documents."""
        from longctx_eval.prompts import PromptFormat
        from longctx_eval.task import CellContext
        from longctx_eval.worker import BackendModels

        n = self.base.n_pairs
        params = LongRopeParams(short_factor=(1.0,) * n, long_factor=tuple(long_factor), source="search")
        setting = ScalingSpec("longrope", self.factor, params).resolve(self.base)
        lm = self.backend.apply(setting, self.settings.target_length)
        ctx = CellContext(
            length=self.settings.target_length,
            seed=self.settings.seed,
            lm=lm,
            prompts=PromptFormat(self.backend.tokenizer),
            length_dependent=True,
            model_cache=self._model_cache,
            original_context=self.base.original_context,
        )
        ctx.models = BackendModels(
            self.backend, self.backend.cfg, self.base, setting, self.settings.target_length, self._others
        )
        outcome = self._task(documents).run(ctx)
        if outcome.status != "ok":
            raise SearchError(f"perplexity at {self.settings.target_length} tokens: {outcome.reason}")
        samples = [s for s in outcome.samples if isinstance(s, PerplexitySample)]
        if len(samples) != len(outcome.samples):  # the perplexity task's family: a plugin replaced it
            raise SearchError("the perplexity task returned samples without an NLL sum and token count")
        return samples

    def __call__(self, candidates: list[Candidate]) -> list[float]:
        """The search objective: perplexity on the first `documents` documents."""
        k = self.settings.documents
        out = []
        for c in candidates:
            rows = self.per_document(c, k)
            if len(rows) < k:
                raise SearchError(
                    f"only {len(rows)} documents have {self.settings.target_length} tokens; need {k}"
                )
            out.append(_ppl(rows))
        return out

    def held_out(self, candidate: Candidate) -> float | None:
        """Perplexity on the next `held_out` documents, never seen by the search."""
        k, m = self.settings.documents, self.settings.held_out
        rows = self.per_document(candidate, k + m)[k:] if m else []
        return _ppl(rows) if rows else None


def objective_text(settings: SearchSettings) -> str:
    n, length = settings.documents, settings.target_length
    if settings.objective == "key_tokens":
        who = settings.evaluator or "the model itself, unscaled"
        return f"perplexity on the key tokens (evaluator: {who}) at {length} tokens of {n} documents"
    if settings.objective == "needle":
        kind = settings.objective_settings.get("needle_task", "passkey")
        return f"perplexity on the answer tokens of {n} {kind} episodes of {length} tokens"
    return f"perplexity at {length} tokens on {n} documents (truncate)"


def _ppl(rows: list[PerplexitySample]) -> float:
    # a NLL stored as null (it was not finite) makes the perplexity nan, as the float would
    if any(r.nll_sum is None for r in rows):
        return math.nan
    return math.exp(sum(r.nll_sum or 0.0 for r in rows) / sum(r.n_scored_tokens for r in rows))


def seed_candidates(
    config: Any, base: RopeBase, factor: float, space: SearchSpace, methods: tuple[str, ...] = ()
) -> dict[str, Candidate]:
    """PI, NTK and YaRN at `factor`, then each of `methods` (static methods, NAME or NAME@FACTOR),
    as rescale factors θ_i / θ'_i on the search grid, keyed by their labels."""
    from longctx_eval.rope.analysis import plain_setting
    from longctx_eval.rope.frequencies import frequencies_at

    plain, _ = frequencies_at(scaled_config(config, plain_setting(base), base.original_context), 1)

    def ratios(spec: ScalingSpec) -> Candidate:
        setting = spec.resolve(base)
        if setting.length_dependent:
            raise SearchError(f"{spec.label()} depends on the length: a LongRoPE seed is one static set")
        inv, _ = frequencies_at(
            scaled_config(config, setting.rope_parameters, setting.max_position_embeddings), 1
        )
        if bool((inv <= 0).any()):
            raise SearchError(f"{spec.label()} stops pairs (frequency 0): no LongRoPE factor gives that")
        return space.repair((plain / inv).tolist())

    seeds = {
        "pi": space.repair([factor] * base.n_pairs),
        "ntk": ratios(ScalingSpec("ntk", factor)),
        "yarn": space.repair(yarn_derived_factors(config, base, factor).long_factor),
    }
    for text in methods:
        try:
            name, at = split_method(text)
            if at == "auto":
                raise ValueError(f"{text}: give a number, or no factor for the search's own")
            spec = ScalingSpec(name, factor if at is None else at)
            seeds[spec.label()] = ratios(spec)
        except (KeyError, ValueError) as exc:
            raise SearchError(f"seed method {text!r}: {exc}") from None
    return seeds


def fingerprint_file(path: str) -> str:
    p = Path(path)
    if p.is_file():
        return "sha256:" + fingerprint_data(p)  # the cell ids' content hash (the same digest, cached)
    return f"dataset:{path}"


def run_search(
    settings: SearchSettings,
    output: Path,
    backend: Any = None,
    on_generation: Callable[[SearchState], None] | None = None,
) -> LongRopeFactors:
    """Search, write `output` (a factors file any sweep can use), and return it."""
    from longctx_eval.identity import fingerprint_model_dir
    from longctx_eval.models import ModelNotFound, resolve_model

    try:
        found = resolve_model(settings.model, tokenizer=False)
    except ModelNotFound as exc:
        raise SearchError(str(exc)) from None
    config = found.config
    base = read_rope_base(config, settings.original_context)
    factor = settings.factor or settings.target_length / base.original_context
    if factor <= 1:
        raise SearchError(
            f"target length {settings.target_length} is within the original context "
            f"{base.original_context}: nothing to search"
        )
    space = SearchSpace(base.n_pairs, 1.0, round(settings.high_multiple * factor, 2), settings.step)
    model_fp = fingerprint_model_dir(Path(found.path)) if found.local else f"hub:{settings.model}"
    # Everything but the number of generations: a finished search can be run further.
    fixed = asdict(settings)
    fixed["evolution"].pop("generations")
    for name, default in (
        ("objective", "ppl"),
        ("evaluator", None),
        ("objective_settings", {}),
        ("seed_methods", ()),
    ):
        if fixed[name] == default:  # searches made before these settings existed still resume
            fixed.pop(name)
    identity = {
        "settings": _jsonable(fixed),
        "factor": factor,
        "model_fingerprint": model_fp,
        "data_fingerprint": fingerprint_file(settings.dataset),
    }
    state_path = output.with_name(output.name + ".state.json")
    state = _load_state(state_path, identity)
    if backend is None:
        backend = _hf_backend(settings)
    evaluator = Evaluator(backend, base, factor, settings)
    seeds = seed_candidates(config, base, factor, space, settings.seed_methods)

    def checkpoint(st: SearchState) -> None:
        atomic_write(state_path, json.dumps({"identity": identity, "state": st.to_json()}) + "\n")
        if on_generation:
            on_generation(st)

    state = evolve(
        space, list(seeds.values()), evaluator, settings.evolution, settings.seed, state, checkpoint
    )
    ((best, best_ppl),) = state.best(1)
    seed_scores = {name: state.scores[c] for name, c in seeds.items()}
    held = {name: evaluator.held_out(c) for name, c in [("best", best), *seeds.items()]}
    result = LongRopeFactors(
        factor=factor,
        original_context=base.original_context,
        short_factor=[1.0] * base.n_pairs,
        long_factor=list(best),
        searched=True,
        source="longrope-search",
        model={
            "path": settings.model,
            "fingerprint": model_fp,
            "rope_theta": base.rope_theta,
            "rotary_dim": base.rotary_dim,
        },
        search=SearchRecord(
            target_length=settings.target_length,
            objective=objective_text(settings),
            best_ppl=best_ppl,
            seed_ppl=seed_scores,
            held_out_documents=settings.held_out,
            held_out_ppl=held,
            history=[SearchGeneration.model_validate(h) for h in state.history],
            evaluated=len(state.scores),
            space=asdict(space),
            evolution=asdict(settings.evolution),
            seed=settings.seed,
            dataset=settings.dataset,
            data_fingerprint=identity["data_fingerprint"],
            n_hat="not searched: transformers' and vLLM's longrope cannot apply it",
        ),
    )
    atomic_write(output, result.model_dump_json(indent=2) + "\n")
    return result


def _hf_backend(settings: SearchSettings) -> Any:
    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry

    backend = HFBackend(HFConfig.model_validate({"dtype": settings.dtype}))
    backend.load(ModelEntry(name="search", path=settings.model), settings.model)
    return backend


def _load_state(path: Path, identity: dict[str, Any]) -> SearchState | None:
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if saved.get("identity") != json.loads(json.dumps(identity)):
        raise SearchError(
            f"{path} holds a search with other settings, model or data; delete it to start over, or "
            "run the command it was made with to resume"
        )
    return SearchState.from_json(saved["state"])


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
