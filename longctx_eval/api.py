"""The Python API: everything the command line does, as functions a notebook can call.

    import longctx_eval as lce
    summary = lce.run({"name": "demo", "models": [...], "methods": [...], "lengths": [...], "tasks": [...]})
    results = lce.load_results(summary.out_dir)
    frame = results.to_pandas()

Bad input raises `ConfigError` (its `problems` are (field path, message) pairs, all of them at
once); the CLI prints those lines and exits 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from longctx_eval.config import ConfigError, SweepConfig, load_sweep, parse_sweep
from longctx_eval.errors import EnvironmentProblem

if TYPE_CHECKING:
    from longctx_eval.longrope_search.request import SearchRequest
    from longctx_eval.plan import Plan
    from longctx_eval.progress import Progress
    from longctx_eval.reporting import ReportOptions, Results, Summary
    from longctx_eval.rope.analysis import RopeAnalysis
    from longctx_eval.rope.longrope_factors import LongRopeFactors
    from longctx_eval.runner import RunSummary
    from longctx_eval.usage.result import UsageResult

SweepInput = SweepConfig | str | Path | Mapping[str, Any]
ProgressChoice = Literal["auto", "rich", "plain", "none"]


def sweep_config(config: SweepInput) -> SweepConfig:
    """A validated sweep from a config object, a YAML path, or a dict shaped like the YAML."""
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_sweep(config)
    return parse_sweep(dict(config))


def validate(config: SweepInput) -> Plan:
    """Check a sweep (and its models' configs and tokenizers) without running anything: the plan of
    cells it would run. Raises ConfigError with every problem, in one round: when the sweep itself
    has problems, what parses of it is also checked against its models (lengths against each
    task's fixed text, tokenizers, factor files)."""
    from longctx_eval.plan import make_plan

    try:
        sweep = sweep_config(config)
    except ConfigError as exc:
        raise ConfigError(exc.problems + _problems_beyond(config, exc.problems)) from None
    return make_plan(sweep)


_LISTS = ("models", "methods", "lengths", "tasks")


def _problems_beyond(config: SweepInput, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The problems `make_plan` finds in the parts of a sweep that parsed: the sweep without the
    keys and entries `found` names, with the plan's field paths mapped back to the original
    entries. [] when nothing sensible is left to check."""
    from longctx_eval.config import parse_sweep, read_sweep_file
    from longctx_eval.plan import make_plan

    if isinstance(config, SweepConfig):
        return []
    if isinstance(config, (str, Path)):
        try:
            raw, source_dir = read_sweep_file(config), Path(config).parent
        except ConfigError:
            return []
    else:
        raw, source_dir = dict(config), Path(".")
    if not isinstance(raw, dict):
        return []
    raw = dict(raw)
    dropped: dict[str, set[int]] = {key: set() for key in _LISTS}
    for loc, _ in found:
        top, _, rest = loc.partition(".")
        index = rest.split(".")[0].split("(")[0]
        if top in _LISTS and index.isdigit() and isinstance(raw.get(top), list):
            dropped[top].add(int(index))
        elif top in ("backend", "executor", "description", "seed", "tasks_path") or (
            top and top not in (*_LISTS, "name")
        ):
            raw.pop(top, None)  # an unknown key, or a section the defaults stand in for
        elif top == "name":
            raw["name"] = "sweep"
        else:
            return []  # the whole file or list is malformed: nothing to build a plan from
    kept: dict[str, list[int]] = {}
    for key in _LISTS:
        entries = raw.get(key)
        if isinstance(entries, list):
            kept[key] = [i for i in range(len(entries)) if i not in dropped[key]]
            raw[key] = [entries[i] for i in kept[key]]
            if not raw[key]:
                return []
    try:
        make_plan(parse_sweep(raw, source_dir=source_dir))
    except ConfigError as exc:
        known = set(found)
        return [p for p in (_renumber(loc, msg, kept) for loc, msg in exc.problems) if p not in known]
    except (EnvironmentProblem, OSError, ValueError, ImportError):
        # What stops the plan of the remainder (a device, a file, a plugin) is only extra
        # information here: the problems already found stand on their own and are reported.
        return []
    return []


def _renumber(loc: str, message: str, kept: dict[str, list[int]]) -> tuple[str, str]:
    """`lengths.1` of the reduced sweep is the original's entry kept[lengths][1]."""
    top, _, rest = loc.partition(".")
    head, dot, tail = rest.partition(".")
    if top in kept and head.isdigit() and int(head) < len(kept[top]):
        return f"{top}.{kept[top][int(head)]}{dot}{tail}", message
    return loc, message


def progress_display(choice: ProgressChoice | Progress) -> Progress:
    from longctx_eval.progress import PlainProgress, RichProgress, SilentProgress

    if not isinstance(choice, str):
        return choice
    if choice == "auto":
        import sys

        choice = "rich" if sys.stderr.isatty() else "plain"
    display: Progress = {"rich": RichProgress, "plain": PlainProgress, "none": SilentProgress}[choice]()
    return display


def run(
    config: SweepInput,
    output: str | Path | None = None,
    progress: ProgressChoice | Progress = "auto",
    shard: str | None = None,
    report: bool = True,
) -> RunSummary:
    """Run every cell of a sweep not finished yet, then (unless sharded) write the report.

    `output` defaults to results/<name>/; `shard` is "K/N" (0-based K) to run one part of the grid.
    Cell failures are recorded, not raised: see the returned summary's counts. An error before any
    cell is written (a device that is not there, say) leaves the output directory as it was.
    """
    import time

    from longctx_eval.quiet import quiet_libraries
    from longctx_eval.runner import run_plan
    from longctx_eval.shard import parse_shard

    part = None
    if shard is not None:
        try:
            part = parse_shard(shard)
        except ValueError as exc:
            raise ConfigError([("shard", str(exc))]) from None
    plan = validate(config)
    out = Path(output) if output is not None else Path("results") / plan.config.name
    display = progress_display(progress)
    with quiet_libraries():
        summary = run_plan(plan, out, display, shard=part)
        if report and not summary.interrupted and part is None and summary.has_results:
            from longctx_eval.reporting import write_report

            # Shards may share a directory: report once all are done.
            display.note(f"report: writing the leaderboards, plots and report.html into {out} ...")
            start = time.monotonic()
            paths = write_report(out)
            summary.report_written = True
            display.note(f"report: {len(paths)} files written in {time.monotonic() - start:.1f}s")
    return summary


def read_summary(run: RunSummary) -> Summary:
    """A run's summary: the `leaderboard.json` it wrote, read through its model, or, where the run
    wrote none (a shard, `report=False`), built from the records (a file left by an earlier run
    would be stale)."""
    from longctx_eval.reporting import Summary, build_summary, load_results

    if run.report_written:
        return Summary.model_validate_json((run.out_dir / "leaderboard.json").read_bytes())
    return build_summary(load_results(run.out_dir))


NO_RECORDS = "no records in {directory} (expected {records})"


def require_records(directories: Sequence[str | Path]) -> None:
    """Raise FileNotFoundError naming each directory that holds no records: the one error that
    `load_results`, `report` and `compare` give for a missing or empty results directory."""
    from longctx_eval.store import RECORDS

    empty = []
    for d in map(Path, directories):
        path = d / RECORDS
        if not path.is_file() or not path.read_bytes().strip():
            empty.append(NO_RECORDS.format(directory=d, records=path))
    if empty:
        raise FileNotFoundError("; ".join(empty))


def report(
    directory: str | Path,
    options: ReportOptions | Mapping[str, Any] | None = None,
    pictures: bool = True,
    show_superseded: bool = False,
) -> list[Path]:
    """Write leaderboard.json/.md/.csv/.tex, plots and report.html into `directory` from its records.

    Raises FileNotFoundError when the directory holds no records (`load_results` gives the same)."""
    from longctx_eval.reporting import write_report

    checked = report_options(options)
    require_records([directory])
    return write_report(directory, checked, pictures=pictures, show_superseded=show_superseded)


def compare(
    dirs: Sequence[str | Path],
    output: str | Path,
    options: ReportOptions | Mapping[str, Any] | None = None,
    pictures: bool = True,
    show_superseded: bool = False,
) -> list[Path]:
    """Merge several results directories (runs, models, backends, shards) into `output` and report
    there; takes `report`'s options. Raises FileNotFoundError when a directory holds no records."""
    from longctx_eval.reporting import compare as compare_dirs

    checked = report_options(options)
    require_records(dirs)
    return compare_dirs(dirs, output, checked, pictures=pictures, show_superseded=show_superseded)


def report_options(options: ReportOptions | Mapping[str, Any] | None) -> ReportOptions:
    """Options as given, checked (a bad value raises ConfigError naming the option)."""
    from pydantic import ValidationError

    from longctx_eval.config import validation_problems
    from longctx_eval.reporting import ReportOptions

    if isinstance(options, ReportOptions):
        return options
    try:
        return ReportOptions.model_validate(dict(options or {}))
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc)) from None


def load_results(dirs: str | Path | Sequence[str | Path]) -> Results:
    """The records of a results directory (or several, merged), typed, with `.to_pandas()`.

    Raises FileNotFoundError, the error `report` prints, when a directory holds no records."""
    from longctx_eval.reporting import load_results as load

    directories = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
    require_records(directories)
    return load(directories)


def rope_table(
    model: str,
    method: str,
    factor: float | None = None,
    target_length: int | None = None,
    original_context: int | None = None,
    params: Mapping[str, Any] | None = None,
    factors_file: str | Path | None = None,
    revision: str | None = None,
) -> RopeAnalysis:
    """What a method does to each rotary pair of a model (needs only the model's config).

    `method` is a name or NAME@FACTOR (`yarn@4`); methods that take a factor need one (longrope
    reads it from `factors_file`)."""
    from pydantic import ValidationError

    from longctx_eval.config import validation_problems
    from longctx_eval.models import ModelNotFound, resolve_model
    from longctx_eval.registry import UnknownNameError
    from longctx_eval.rope.analysis import analyse
    from longctx_eval.rope.base import RopeConfigError, read_rope_base
    from longctx_eval.rope.longrope_factors import FactorsFileError, load_factors
    from longctx_eval.rope.methods import METHODS, MethodParams, ScalingSpec, split_method

    try:
        method, at = split_method(method)
        definition = METHODS.get(method)
    except (UnknownNameError, ValueError) as exc:
        raise ConfigError([("method", str(exc))]) from None
    if at == "auto":
        raise ConfigError([("method", "`rope` shows one factor: give a number, e.g. yarn@4")])
    if at is not None:
        if factor is not None and factor != at:
            raise ConfigError([("factor", f"{factor:g} disagrees with the method's @{at:g}")])
        factor = at
    chosen: MethodParams
    try:
        if factors_file is not None:
            factors = load_factors(Path(factors_file))
            chosen, factor = factors.params(str(factors_file)), factors.factor
        else:
            chosen = definition.params_model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise ConfigError([(f"param {loc}", msg) for loc, msg in validation_problems(exc)]) from None
    except FactorsFileError as exc:
        raise ConfigError([("factors_file", str(exc))]) from None
    if definition.takes_factor and factor is None:
        raise ConfigError([("factor", f"{method} needs a scale factor (e.g. --factor 4)")])
    try:
        found = resolve_model(model, revision, tokenizer=False)
        base = read_rope_base(found.config, original_context)
        spec = ScalingSpec(method, factor or 1.0, chosen)
        return analyse(
            found.config, base, spec, target_length or int(base.original_context * (factor or 1.0))
        )
    except ModelNotFound as exc:
        raise ConfigError([("model", str(exc))]) from None
    except (RopeConfigError, ValueError) as exc:
        raise ConfigError([("", str(exc))]) from None


def analyze(
    model: str,
    dataset: str,
    length: int,
    documents: int = 4,
    methods: Sequence[tuple[str, float | None]] = (),
    factors_file: str | Path | None = None,
    target_lengths: Sequence[int] | None = None,
    **options: Any,
) -> UsageResult:
    """Which rotary frequencies a model uses at `length` tokens of `dataset`, and what each method
    (name, factor) does to them (Barbero et al. 2024). `factors_file` serves a longrope entry;
    `options` go to `longctx_eval.usage.analyze` (column, offsets, shuffle, seed, dtype, device, ...)."""
    from longctx_eval.data import DatasetError
    from longctx_eval.models import ModelNotFound, resolve_model
    from longctx_eval.registry import UnknownNameError
    from longctx_eval.rope.base import RopeConfigError
    from longctx_eval.rope.longrope_factors import FactorsFileError
    from longctx_eval.usage import UsageError, method_spec
    from longctx_eval.usage import analyze as run_analysis

    specs = []
    for i, (name, factor) in enumerate(methods):
        try:
            takes_factor = _method_takes_factor(name)
            if takes_factor and factor is None and not (name == "longrope" and factors_file):
                raise ConfigError([(f"method {i}", f"{name} needs a factor")])
            params = {"factors_file": str(factors_file)} if name == "longrope" and factors_file else None
            specs.append(method_spec((name, factor or 1.0, params)))
        except (UnknownNameError, FactorsFileError, ValueError) as exc:
            raise ConfigError([("method", str(exc))]) from None
    from longctx_eval.quiet import quiet_libraries

    try:
        found = resolve_model(model, tokenizer=False)
        with quiet_libraries():
            return run_analysis(
                found.path,
                dataset,
                length,
                documents=documents,
                methods=specs,
                target_lengths=target_lengths,
                **options,
            )
    except ModelNotFound as exc:
        raise ConfigError([("model", str(exc))]) from None
    except (UsageError, RopeConfigError, DatasetError, ValueError) as exc:
        raise ConfigError([("", str(exc))]) from None


def _method_takes_factor(name: str) -> bool:
    from longctx_eval.rope.methods import METHODS

    return METHODS.get(name).takes_factor


def longrope_factors(
    model: str, factor: float, output: str | Path, original_context: int | None = None
) -> Path:
    """Write LongRoPE's unsearched starting point (YaRN-derived per-pair factors) for `model`."""
    from longctx_eval.rope.longrope_factors import write_yarn_derived_factors

    write_yarn_derived_factors(model, factor, Path(output), original_context)
    return Path(output)


def longrope_search(
    request: SearchRequest | Mapping[str, Any], on_progress: Callable[[str], None] | None = None
) -> LongRopeFactors:
    """Search LongRoPE's per-pair factors (evolutionary search on perplexity; resumable from
    `<output>.state.json`). `request` names the settings as `SearchRequest` does; a problem raises
    ConfigError naming the setting."""
    from pydantic import ValidationError

    from longctx_eval.longrope_search.request import SearchRequest, search

    try:
        checked = request if isinstance(request, SearchRequest) else SearchRequest.model_validate(request)
    except ValidationError as exc:
        raise ConfigError(
            [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors(include_url=False)]
        ) from None
    return search(checked, on_progress)


def train_reference(
    output: str | Path,
    seed: int = 0,
    steps: int | None = None,
    docs: str | Path | None = None,
    rope: str = "default",
    p: float | None = None,
    rope_theta: float | None = None,
    init: str = "planted",
) -> dict[str, Any]:
    """Train the reference model (or a variant: `rope`, `p`, `rope_theta`, `init`) on CPU into
    `output`, with its card; `docs` also writes the held-out perplexity documents. Problems raise
    ConfigError naming the parameter, before anything trains. Returns the training summary."""
    from longctx_eval.reference import train_reference_checked

    return train_reference_checked(
        Path(output),
        seed=seed,
        steps=steps,
        docs=Path(docs) if docs is not None else None,
        rope=rope,
        p=p,
        rope_theta=rope_theta,
        init=init,
    )
