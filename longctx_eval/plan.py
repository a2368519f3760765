"""From a validated sweep config to the grid of cells, with every check that needs a model's
config or tokenizer done first (paths, factor files, lengths versus each task's fixed text).

A cell is model × method@factor × task × length. Its id hashes everything that changes its result:
the model (path, revision, a fingerprint of its files' content, see `identity`), the resolved rope
parameters, the task's name, version and settings (and the content of local files they name), the
length, the sample seed and the backend's result-relevant settings.
Sample seeds depend on the sweep seed, task and length only, so every model and method sees the
same keys, values and depths: comparisons between methods are paired.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longctx_eval.backends import BACKENDS
from longctx_eval.config import ConfigError, MethodChoice, ModelEntry, SweepConfig, TaskChoice
from longctx_eval.identity import fingerprint_data, fingerprint_model_dir
from longctx_eval.models import ModelNotFound, resolve_model
from longctx_eval.prompts import PromptFormat, PromptFormatError
from longctx_eval.rope.base import RopeBase, RopeConfigError, read_rope_base, scaled_config
from longctx_eval.rope.longrope_factors import FactorsFileError, load_factors, model_config_factors
from longctx_eval.rope.methods import METHODS, LongRopeParams, RopeSetting, ScalingSpec, canonical_json
from longctx_eval.task import TASKS, Task, TaskEnv, TaskParamError, data_file_settings

if TYPE_CHECKING:
    from longctx_eval.length_search import SearchPlan

_FINGERPRINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class ModelPlan:
    index: int
    entry: ModelEntry
    path: str  # a local directory or a hub id
    fingerprint: str
    config: Any  # the model's transformers config
    base: RopeBase
    tokenizer: Any


@dataclass(frozen=True)
class Cell:
    cell_id: str
    model: ModelPlan
    spec: ScalingSpec
    setting: RopeSetting
    task_index: int
    task: TaskChoice
    length: int
    seed: int
    # Another cell of the plan that computes exactly this (same model, task, length and the same
    # frequencies and attention factor: pi@auto at the native length is `none` there); this one then
    # shares its result instead of computing it again.
    same_as: str | None = None
    batch: int = 0  # length search: the k-th batch of samples at this length (0: the ordinary cell)

    @property
    def group(self) -> tuple[int, str]:
        """Cells sharing a (model, method@factor) share one rope setting on the backend."""
        return self.model.index, canonical_json(self.setting.rope_parameters)


@dataclass(frozen=True)
class Plan:
    config: SweepConfig
    models: list[ModelPlan]
    tasks: list[Task]
    cells: list[Cell]
    warnings: list[str] = field(default_factory=list)  # what validate says without refusing
    search: SearchPlan | None = None  # `lengths: {search: ...}`: cells are asked for as it goes

    def describe(self) -> str:
        if self.search is not None:
            s = self.search.settings
            return (
                f"a length search from {s.start} to {s.to} ({len(self.config.lengths)} candidate lengths, "
                f"{s.resolution:g} apart) for {len(self.search.series)} model × method@factor × task series; "
                f"the fixed grid would be {len(self.cells)} cells"
            )
        groups = {c.group for c in self.cells}
        shared = sum(1 for c in self.cells if c.same_as)
        also = f"; {shared} of them share another cell's computation (the same frequencies)" if shared else ""
        return (
            f"{len(self.cells)} cells ({len(self.models)} models, {len(groups)} model × method@factor "
            f"groups, {len(self.config.tasks)} tasks, {len(self.config.lengths)} lengths){also}"
        )


def make_plan(config: SweepConfig) -> Plan:
    problems: Problems = list(BACKENDS.get(config.backend.kind).problems(config.backend))
    models = [m for i, e in enumerate(config.models) if (m := _resolve_model(i, e, config, problems))]
    tasks = _make_tasks(config, problems)
    specs = {m.index: _specs(config, m, problems) for m in models}
    if len(tasks) == len(config.tasks):
        for m in models:
            _check_lengths(config, m, tasks, problems)
    if problems:
        raise ConfigError(problems)
    warnings = _warnings(config, models, specs)
    data = [task_data_fingerprints(config, choice) for choice in config.tasks]
    cells = [
        _cell(config, m, spec, setting, t, length, data[t])
        for m in models
        for spec, setting, only_length in specs[m.index]
        for t in range(len(config.tasks))
        for length in sorted(config.lengths)
        if only_length in (None, length)
    ]
    if config.length_search is not None:
        from longctx_eval.length_search import search_plan

        not_accuracy = [c.label for c, t in zip(config.tasks, tasks, strict=True) if t.metric != "accuracy"]
        if not_accuracy:
            raise ConfigError(
                [
                    (
                        "lengths.search",
                        f"the length search needs accuracy tasks; {', '.join(not_accuracy)} "
                        "measure something else: run them on a list of lengths",
                    )
                ]
            )
        search = search_plan(config.length_search, cells, config.seed)
        return Plan(config, models, tasks, cells, warnings, search)
    return Plan(config, models, tasks, _share_identical(config, cells, warnings), warnings)


def _share_identical(config: SweepConfig, cells: list[Cell], warnings: list[str]) -> list[Cell]:
    """Mark each cell that computes exactly what an earlier cell computes (`same_as`).

    Identical means the same model, task entry and length and the same rotary computation: the
    frequencies and attention factor transformers gives the setting at the cell's length. A
    length-dependent setting counts only when its frequencies stay those of the prompt's length
    while generating (the `prompt` policy); with any other policy they move past the length.
    A setting whose frequencies cannot be computed here shares nothing, and `warnings` says why.
    """
    from longctx_eval.rope.analysis import frequency_record

    first: dict[tuple[Any, ...], str] = {}
    memo: dict[tuple[Any, ...], str | None] = {}
    out = []
    for c in cells:
        s = c.setting
        if s.length_dependent and config.backend.generation_policy(s) != "prompt":
            out.append(c)
            continue
        at = c.length if s.length_dependent else 1
        rope_key = (c.model.index, canonical_json(s.rope_parameters), s.max_position_embeddings, at)
        if rope_key not in memo:
            try:
                rec = frequency_record(
                    c.model.config, c.model.base, s.rope_parameters, s.max_position_embeddings, at
                )
                memo[rope_key] = canonical_json([rec["inv_freq"], rec["attention_factor"]])
            except Exception as exc:  # never shared; the cell itself will meet the error and record it
                memo[rope_key] = None
                warnings.append(
                    f"{c.spec.label()} on {c.model.entry.name}: its frequencies could not be computed "
                    f"before the run, so its cells share no computation ({type(exc).__name__}: {exc})"
                )
        frequencies = memo[rope_key]
        if frequencies is None:
            out.append(c)
            continue
        key = (c.model.index, c.task_index, c.length, frequencies)
        if key in first:
            c = dataclasses.replace(c, same_as=first[key])
        else:
            first[key] = c.cell_id
        out.append(c)
    return out


def _resolve_model(i: int, entry: ModelEntry, config: SweepConfig, problems: Problems) -> ModelPlan | None:
    loc = f"models.{i}"
    try:
        found = resolve_model(
            entry.path, entry.revision, entry.trust_remote_code, resolve_path=config.resolve_path
        )
    except ModelNotFound as exc:
        problems.append((f"{loc}.path", str(exc)))
        return None
    try:
        base = read_rope_base(found.config, entry.original_context)
    except RopeConfigError as exc:
        problems.append((loc, str(exc)))
        return None
    fingerprint = (
        fingerprint_model_dir(Path(found.path)) if found.local else f"hub:{entry.revision or 'main'}"
    )
    return ModelPlan(i, entry, found.path, fingerprint, found.config, base, found.tokenizer)


def task_data_fingerprints(config: SweepConfig, choice: TaskChoice) -> dict[str, str]:
    """Content hashes of the local files a task's data settings name (a dataset, a haystack file;
    see `task.data_file_field`), so a file rewritten at the same path gives new cell ids."""
    out = {}
    for name, value in data_file_settings(choice.params).items():
        if isinstance(value, str) and value:
            path = config.resolve_path(value)
            if path.exists():
                out[name] = fingerprint_data(path)
    return out


def _make_tasks(config: SweepConfig, problems: Problems) -> list[Task]:
    env = TaskEnv(resolve_path=config.resolve_path)
    tasks = []
    for i, choice in enumerate(config.tasks):
        try:
            tasks.append(TASKS.get(choice.task)(choice.params, env))
        except TaskParamError as exc:
            problems.append((f"tasks.{i}.{exc.field_name}", str(exc)))
    return tasks


def _specs(
    config: SweepConfig, model: ModelPlan, problems: Problems
) -> list[tuple[ScalingSpec, RopeSetting, int | None]]:
    """(spec, its setting, the only length it applies to or None) for every method entry."""
    out: list[tuple[ScalingSpec, RopeSetting, int | None]] = []
    for i, choice in enumerate(config.methods):
        loc = f"methods.{i}"
        try:
            for spec, only in _expand(choice, model, config):
                setting = spec.resolve(model.base)
                accepted = config.backend.generation_policies()
                if setting.generation is not None and setting.generation not in accepted:
                    raise ValueError(
                        f"generation {setting.generation!r} is not one the {config.backend.kind} backend "
                        f"runs (valid: {', '.join(accepted)})"
                    )
                _check_frequencies(spec, setting, model, config.backend.kind)
                out.append((spec, setting, only))
        except (ValueError, ArithmeticError, FactorsFileError) as exc:
            problems.append((loc, f"{exc} (model {model.entry.name!r})"))
    return out


def _check_frequencies(spec: ScalingSpec, setting: RopeSetting, model: ModelPlan, backend: str) -> None:
    """Plugins and built-ins alike: one finite, positive frequency per rotary pair at L (a
    length-dependent plugin that goes wrong only further out fails those cells, naming its file).
    Raises ValueError (MethodPluginError for plugins)."""
    from longctx_eval.rope.plugins import VLLM_REFUSAL, check_frequencies, plugin_frequencies, who

    method = spec.definition
    if method.plugin:
        if backend == "vllm" and method.length_dependent:
            raise ValueError(f"{who(method)} {VLLM_REFUSAL}")
        plugin_frequencies(setting.rope_parameters)
        return
    from longctx_eval.rope.frequencies import frequencies_at

    config = scaled_config(model.config, setting.rope_parameters, setting.max_position_embeddings)
    try:
        inv, attention = frequencies_at(config, model.base.original_context)
    except RopeConfigError:  # no rotary class to ask from the config (remote code): the run builds it
        return
    check_frequencies(inv, attention, model.base, f"method {spec.label()}", allow_zero=method.stops_pairs)


def _expand(
    choice: MethodChoice, model: ModelPlan, config: SweepConfig
) -> list[tuple[ScalingSpec, int | None]]:
    name, L = choice.method, model.base.original_context
    if not METHODS.get(name).takes_factor:
        return [(ScalingSpec(name, 1.0, choice.params), None)]
    if name == "longrope":
        factor, params = _longrope_params(choice, model, config)
        return [(ScalingSpec("longrope", factor, params), None)]
    if choice.factors == "auto":
        return [
            (ScalingSpec(name, max(1.0, n / L), choice.params, auto=True), n) for n in sorted(config.lengths)
        ]
    assert choice.factors is not None
    return [(ScalingSpec(name, f, choice.params), None) for f in choice.factors]


def _longrope_params(
    choice: MethodChoice, model: ModelPlan, config: SweepConfig
) -> tuple[float, LongRopeParams]:
    assert isinstance(choice.params, LongRopeParams)
    inline = choice.params.short_factor is not None or choice.params.long_factor is not None
    if choice.factors_file and inline:
        raise ValueError("give the factors either inline or in factors_file, not both")
    if choice.factors_file:
        factors = load_factors(config.resolve_path(choice.factors_file))
        if factors.original_context != model.base.original_context:
            raise ValueError(
                f"{choice.factors_file} was made for an original context of {factors.original_context}, "
                f"the model's is {model.base.original_context}"
            )
        params = factors.params(choice.factors_file)
        if choice.params.attention_factor is not None:
            params = params.model_copy(update={"attention_factor": choice.params.attention_factor})
        return factors.factor, params.model_copy(update={"generation": choice.params.generation})
    if inline:
        raise ValueError("inline longrope factors need a factor: use a factors_file instead")
    shipped = model_config_factors(model.base)
    if shipped is None:
        raise ValueError("longrope needs factors: the model config has none; give a factors_file")
    rope = model.base.rope_parameters
    factor = float(rope.get("factor") or model.base.max_position_embeddings / model.base.original_context)
    return factor, shipped.model_copy(update={"generation": choice.params.generation})


def _check_lengths(config: SweepConfig, model: ModelPlan, tasks: list[Task], problems: Problems) -> None:
    try:
        fmt = PromptFormat(model.tokenizer, chat_template=model.entry.chat_template == "auto")
    except PromptFormatError as exc:
        problems.append((f"models.{model.index}.chat_template", str(exc)))
        return
    for i, (task, choice) in enumerate(zip(tasks, config.tasks, strict=True)):
        need = task.min_length(fmt)
        for j, length in enumerate(config.lengths):
            if length < need:
                problems.append(
                    (
                        f"lengths.{j}",
                        f"{length} is shorter than task {choice.label!r} needs ({need} tokens of fixed "
                        f"text with model {model.entry.name!r})",
                    )
                )
        for message in task.length_problems(fmt, max(config.lengths)):
            problems.append((f"tasks.{i}", f"{message} (model {model.entry.name!r})"))


def _warnings(config: SweepConfig, models: list[ModelPlan], specs: dict[int, list[Any]]) -> list[str]:
    """What validate says without refusing: lengths past what a fixed factor scales to, and p-RoPE
    applied to a model that was not trained with it."""
    out = []
    longest = max(config.lengths)
    for m in models:
        for spec, _setting, only in specs[m.index]:
            if only is not None or not spec.definition.takes_factor or spec.method == "longrope":
                continue
            reach = math.ceil(m.base.original_context * spec.factor)
            if longest > reach:
                out.append(
                    f"{spec.label()} on {m.entry.name!r} scales to L·s = {reach} tokens; lengths up to "
                    f"{longest} go beyond it (extrapolation: expect it to break there)"
                )
        own = str(m.base.rope_parameters.get("rope_type", "default"))
        if any(c.method == "p_rope" for c in config.methods) and own != "proportional":
            out.append(
                f"p_rope on {m.entry.name!r}, trained with {own} RoPE: it measures what stopping its "
                "lowest frequencies costs, not p-RoPE (a change made before training)"
            )
    return out


def sample_seed(sweep_seed: int, task_label: str, length: int) -> int:
    digest = hashlib.sha256(f"{sweep_seed}|{task_label}|{length}".encode()).hexdigest()
    return int(digest[:12], 16)


def _cell(
    config: SweepConfig,
    model: ModelPlan,
    spec: ScalingSpec,
    setting: RopeSetting,
    t: int,
    length: int,
    data: dict[str, str],
) -> Cell:
    choice = config.tasks[t]
    seed = sample_seed(config.seed, choice.label, length)
    identity = {
        "model": {
            "name": model.entry.name,
            "path": model.entry.path,
            "revision": model.entry.revision,
            "fingerprint": model.fingerprint,
            "chat_template": model.entry.chat_template,
        },
        "spec": spec.identity(model.base),
        "task": {
            "name": choice.task,
            "label": choice.label,
            "version": TASKS.get(choice.task).version,
            "params": choice.params.model_dump(mode="json"),
            **({"data": data} if data else {}),
        },
        "length": length,
        "seed": seed,
        "backend": config.backend.identity(),
    }
    if setting.length_dependent:  # how generation treats its length-dependent rotary changes results
        identity["generation"] = config.backend.generation_policy(setting)
    cell_id = hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]
    return Cell(cell_id, model, spec, setting, t, choice, length, seed)
