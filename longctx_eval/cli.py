"""The `longctx-eval` command: thin typer commands over the library functions."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from longctx_eval.config import ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure how far a model's context really reaches, and which RoPE method gets it furthest.",
)

EXIT_CONFIG = 2


class ProgressStyle(StrEnum):
    auto = "auto"
    rich = "rich"
    plain = "plain"


def _die(lines: list[str], code: int = EXIT_CONFIG) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def _config_error(exc: ConfigError) -> NoReturn:
    _die([f"{loc}: {msg}" if loc else msg for loc, msg in exc.problems])


def _load_plan(config_path: Path) -> Any:
    from longctx_eval.config import load_sweep
    from longctx_eval.plan import make_plan

    try:
        return make_plan(load_sweep(config_path))
    except ConfigError as exc:
        _config_error(exc)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="sweep YAML")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="results directory")] = None,
    progress: Annotated[ProgressStyle, typer.Option(help="progress display")] = ProgressStyle.auto,
    shard: Annotated[
        str | None, typer.Option(help="run only part K of N (0-based K), e.g. --shard $SLURM_ARRAY_TASK_ID/8")
    ] = None,
) -> None:
    """Run a sweep: every cell not finished yet. Exit 0: all ok; 1: some cell failed; 2: bad config;
    130/143: stopped by SIGINT/SIGTERM (finished cells are kept: run again to resume)."""
    from longctx_eval.progress import PlainProgress, RichProgress
    from longctx_eval.report import write_report
    from longctx_eval.runner import run_plan
    from longctx_eval.shard import parse_shard

    try:
        part = parse_shard(shard) if shard is not None else None
    except ValueError as exc:
        _die([f"--shard: {exc}"])
    plan = _load_plan(config)
    out = output or Path("results") / plan.config.name
    use_rich = progress == ProgressStyle.rich or (progress == ProgressStyle.auto and sys.stderr.isatty())
    summary = run_plan(plan, out, RichProgress() if use_rich else PlainProgress(), shard=part)
    if summary.interrupted:
        typer.echo(summary.stop_message(), err=True)
        raise typer.Exit(128 + (summary.stopped_by or 2))
    if summary.counts["ok"] + summary.already_done and part is None:
        write_report(out)  # shards may share a directory: `longctx-eval report` once all are done
    _print_summary(out, summary)
    raise typer.Exit(1 if summary.failed else 0)


def _print_summary(out: Path, summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from longctx_eval.report import load_results
    from longctx_eval.report.summary import all_series, plus_minus, tasks_in
    from longctx_eval.report.tables import lengths_of

    console = Console(stderr=True)
    results = load_results([out])
    for task in tasks_in(results):
        series = all_series(results, task)
        table = Table(title=f"{task} ({series[0].metric})", title_justify="left")
        table.add_column("model")
        table.add_column("method")
        lengths = lengths_of(series)
        for n in lengths:
            table.add_column(str(n), justify="right")
        for s in series:
            table.add_row(
                s.model,
                s.method_label,
                *(plus_minus(p, s.metric) if (p := s.value_at(n)) else "" for n in lengths),
            )
        console.print(table)
    c = summary.counts
    console.print(
        f"{summary.total} cells: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped, "
        f"{summary.already_done} already finished → {out}"
    )


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="sweep YAML")]) -> None:
    """Check a sweep YAML (and the models' configs and tokenizers) without running anything."""
    plan = _load_plan(config)
    groups = {c.group for c in plan.cells}
    typer.echo(
        f"ok: {len(plan.cells)} cells ({len(plan.models)} models, {len(groups)} model × method@factor "
        f"groups, {len(plan.config.tasks)} tasks, {len(plan.config.lengths)} lengths)"
    )


ThresholdOpt = Annotated[float, typer.Option(help="accuracy at or above which a length passes")]
PplMultipleOpt = Annotated[
    float, typer.Option(help="perplexity passes at or below this × the native-length value")
]


def _options(threshold: float, ppl_multiple: float) -> Any:
    from longctx_eval.report import ReportOptions

    if not 0 < threshold <= 1:
        _die([f"--threshold: must be in (0, 1] (got {threshold:g})"])
    if ppl_multiple < 1:
        _die([f"--ppl-multiple: must be >= 1 (got {ppl_multiple:g})"])
    return ReportOptions(threshold=threshold, ppl_multiple=ppl_multiple)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="results directory")],
    threshold: ThresholdOpt = 0.9,
    ppl_multiple: PplMultipleOpt = 1.5,
    pictures: Annotated[bool, typer.Option(help="also write plots/*.png and report.html")] = True,
) -> None:
    """Write leaderboard.md/.csv/.tex, plots and report.html into DIR from its records alone."""
    from longctx_eval.report import write_report

    try:
        paths = write_report(directory, _options(threshold, ppl_multiple), pictures=pictures)
    except FileNotFoundError as exc:
        _die([str(exc)])
    for p in paths:
        typer.echo(str(p))


@app.command()
def compare(
    directories: Annotated[list[Path], typer.Argument(help="results directories to merge")],
    output: Annotated[Path, typer.Option("--output", "-o", help="new directory for the merged results")],
    threshold: ThresholdOpt = 0.9,
    ppl_multiple: PplMultipleOpt = 1.5,
) -> None:
    """Merge several results directories (models, runs, backends, shards) into one report."""
    from longctx_eval.report import MergeError
    from longctx_eval.report import compare as compare_dirs

    missing = [str(d) for d in directories if not (d / "records.jsonl").exists()]
    if missing:
        _die([f"no records in {d}" for d in missing])
    try:
        paths = compare_dirs(directories, output, _options(threshold, ppl_multiple))
    except MergeError as exc:
        _die([str(exc)])
    typer.echo(f"merged {len(directories)} directories into {output} ({len(paths)} files)")


@app.command("ls")
def list_registered(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also list each one's settings")] = False,
) -> None:
    """List the registered methods, tasks, backends and executors."""
    from longctx_eval.backends import BACKENDS
    from longctx_eval.executors import EXECUTORS
    from longctx_eval.rope.methods import METHODS
    from longctx_eval.task import TASKS, load_task_plugins

    load_task_plugins()
    typer.echo("methods:")
    for name in METHODS:
        method = METHODS.get(name)
        typer.echo(f"  {name:<12} {method.summary}")
        _echo_fields(method.params_model, verbose)
    typer.echo("tasks:")
    for name in TASKS:
        cls = TASKS.get(name)
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        typer.echo(f"  {name:<12} {doc[0] if doc else ''} (v{cls.version}, {cls.__module__})")
        _echo_fields(cls.Params, verbose)
    typer.echo("backends:")
    for name in BACKENDS:
        info = BACKENDS.get(name)
        typer.echo(f"  {name:<12} {info.summary}")
        _echo_fields(info.config_model, verbose, skip=("kind",))
    typer.echo("executors:")
    for name in EXECUTORS:
        ex = EXECUTORS.get(name)
        typer.echo(f"  {name:<12} {ex.summary}")
        _echo_fields(ex.config_model, verbose, skip=("kind",))


def _echo_fields(model: Any, verbose: bool, skip: tuple[str, ...] = ()) -> None:
    if not verbose:
        return
    for field, info in model.model_fields.items():
        if field in skip:
            continue
        default = "required" if info.is_required() else f"default {info.default!r}"
        text = (info.description or "").strip()
        typer.echo(f"      {field}: {default}{'; ' + text if text else ''}")


def _parse_params(values: list[str]) -> dict[str, Any]:
    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep:
            _die([f"--param: expected KEY=VALUE, got {item!r}"])
        out[key.strip()] = yaml.safe_load(raw)
    return out


@app.command()
def rope(
    model: Annotated[str, typer.Option(help="model directory or hub id (only its config is read)")],
    method: Annotated[str, typer.Option(help="method name (see `longctx-eval ls`)")],
    factor: Annotated[float, typer.Option(help="scale factor s")] = 1.0,
    target_length: Annotated[
        int | None, typer.Option(help="length to count rotations at (default L·s)")
    ] = None,
    original_context: Annotated[int | None, typer.Option(help="override the trained context L")] = None,
    factors_file: Annotated[Path | None, typer.Option(help="longrope factors JSON")] = None,
    param: Annotated[list[str] | None, typer.Option(help="method setting KEY=VALUE (repeatable)")] = None,
    revision: Annotated[str | None, typer.Option(help="hub revision")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Show what a method does to each rotary pair of a model (needs only the model's config)."""
    from pydantic import ValidationError

    from longctx_eval.config import validation_problems
    from longctx_eval.registry import UnknownNameError
    from longctx_eval.rope.analysis import analyse
    from longctx_eval.rope.base import RopeConfigError, read_rope_base
    from longctx_eval.rope.longrope_factors import FactorsFileError, load_factors
    from longctx_eval.rope.methods import METHODS, MethodParams, ScalingSpec

    try:
        definition = METHODS.get(method)
    except UnknownNameError as exc:
        _die([f"--method: {exc}"])
    params_raw = _parse_params(param or [])
    params: MethodParams
    try:
        if factors_file is not None:
            factors = load_factors(factors_file)
            params = factors.params(str(factors_file))
            factor = factors.factor
        else:
            params = definition.params_model.model_validate(params_raw)
    except ValidationError as exc:
        _die([f"--param {loc}: {msg}" for loc, msg in validation_problems(exc)])
    except FactorsFileError as exc:
        _die([f"--factors-file: {exc}"])
    config = _model_config(model, revision)
    try:
        base = read_rope_base(config, original_context)
        spec = ScalingSpec(method, factor, params)
        result = analyse(config, base, spec, target_length or int(base.original_context * factor))
    except (RopeConfigError, ValueError) as exc:
        _die([str(exc)])
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    _print_rope_table(result, spec.label())


def _model_config(model: str, revision: str | None) -> Any:
    from transformers import AutoConfig

    if model.startswith((".", "/", "~")) and not Path(model).expanduser().is_dir():
        _die([f"--model: no such model directory: {model}"])
    try:
        return AutoConfig.from_pretrained(model, revision=revision)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        _die([f"--model: cannot read the config of {model!r}: {text[0] if text else type(exc).__name__}"])


def _print_rope_table(result: Any, label: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{label}: L={result.original_context}, target {result.target_length} tokens, "
        f"attention factor {result.attention_factor:.4f}",
        title_justify="left",
    )
    for col in ("pair", "λ before", "λ after", "ratio", f"rotations @ {result.target_length}", "kind"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for p in result.pairs:
        table.add_row(
            str(p.pair),
            f"{p.wavelength_before:.4g}",
            f"{p.wavelength_after:.4g}",
            f"{p.ratio:.4g}",
            f"{p.rotations_at_target:.4g}",
            p.kind,
        )
    Console().print(table)
    typer.echo(f"rope_parameters: {json.dumps(result.rope_parameters)}")


@app.command("longrope-factors")
def longrope_factors(
    model: Annotated[str, typer.Option(help="model directory or hub id (only its config is read)")],
    factor: Annotated[float, typer.Option(help="scale factor s")],
    output: Annotated[Path, typer.Option(help="factors JSON to write")],
    original_context: Annotated[int | None, typer.Option(help="override the trained context L")] = None,
) -> None:
    """Write LongRoPE's unsearched starting point (YaRN-derived per-pair factors) for a model."""
    from longctx_eval.rope.base import read_rope_base
    from longctx_eval.rope.longrope_factors import yarn_derived_factors
    from longctx_eval.store import atomic_write

    if factor < 1:
        _die([f"--factor: must be >= 1 (got {factor:g})"])
    config = _model_config(model, None)
    factors = yarn_derived_factors(config, read_rope_base(config, original_context), factor)
    atomic_write(output, factors.model_dump_json(indent=2) + "\n")
    typer.echo(f"wrote {output} (unsearched, yarn-derived, factor {factor:g})")


@app.command("longrope-search")
def longrope_search(
    model: Annotated[str, typer.Option(help="model directory or hub id")],
    target_length: Annotated[int, typer.Option(help="length the factors are searched for (tokens)")],
    dataset: Annotated[
        str, typer.Option(help="documents for the perplexity objective (.txt/.jsonl/.parquet or hub id)")
    ],
    output: Annotated[Path, typer.Option(help="factors JSON to write (a sweep reads it with factors_file:)")],
    factor: Annotated[float | None, typer.Option(help="scale factor s (default: target length / L)")] = None,
    documents: Annotated[int, typer.Option(help="documents in the objective")] = 3,
    held_out: Annotated[int, typer.Option(help="further documents the result is checked on")] = 2,
    column: Annotated[str, typer.Option(help="text column of the dataset")] = "text",
    population: Annotated[int, typer.Option(help="first generation's size")] = 16,
    generations: Annotated[int, typer.Option(help="generations after the first")] = 6,
    parents: Annotated[int, typer.Option(help="best candidates kept as parents (elitism)")] = 8,
    mutations: Annotated[int, typer.Option(help="mutated children per generation")] = 6,
    crossovers: Annotated[int, typer.Option(help="crossover children per generation")] = 6,
    mutation_prob: Annotated[float, typer.Option(help="probability each factor is moved")] = 0.3,
    high_multiple: Annotated[float, typer.Option(help="factors searched in [1, this × s]")] = 1.25,
    paper: Annotated[
        bool, typer.Option("--paper", help="the paper's settings: 64 / 40 gens / 32 / 16 / 16 / 0.3")
    ] = False,
    original_context: Annotated[int | None, typer.Option(help="override the trained context L")] = None,
    seed: Annotated[int, typer.Option(help="random seed of the search")] = 0,
) -> None:
    """Search LongRoPE's per-pair factors for a model (evolutionary search on perplexity; resumable)."""
    from rich.console import Console

    from longctx_eval.longrope_search.evolution import EvolutionSettings, SearchState
    from longctx_eval.longrope_search.search import SearchError, SearchSettings, run_search

    for name, value in (("documents", documents), ("population", population), ("parents", parents)):
        if value < 1:
            _die([f"--{name}: must be >= 1 (got {value})"])
    if not 0 <= mutation_prob <= 1:
        _die([f"--mutation-prob: must be within [0, 1] (got {mutation_prob:g})"])
    if high_multiple < 1:
        _die([f"--high-multiple: must be >= 1 (got {high_multiple:g})"])
    evolution = (
        EvolutionSettings.paper()
        if paper
        else EvolutionSettings(population, generations, parents, mutations, crossovers, mutation_prob)
    )
    settings = SearchSettings(
        model=model,
        target_length=target_length,
        dataset=dataset,
        factor=factor,
        original_context=original_context,
        column=column,
        documents=documents,
        held_out=held_out,
        high_multiple=high_multiple,
        seed=seed,
        evolution=evolution,
    )
    console = Console(stderr=True)

    def show(state: SearchState) -> None:
        h = state.history[-1]
        console.print(
            f"generation {h['generation']}/{evolution.generations}: best ppl {h['best_ppl']:.4g} "
            f"({h['evaluated']} candidates evaluated)"
        )

    _model_config(model, None)  # a clear error for a bad model path before anything loads
    try:
        result = run_search(settings, output, on_generation=show)
    except SearchError as exc:
        _die([str(exc)])
    s = result.search or {}
    seeds = ", ".join(f"{k} {v:.4g}" for k, v in s["seed_ppl"].items())
    typer.echo(f"best ppl {s['best_ppl']:.4g} at {target_length} tokens (seeds: {seeds}); wrote {output}")


@app.command("train-reference")
def train_reference_command(
    output: Annotated[Path, typer.Option(help="directory the model, tokenizer and card are saved in")],
    seed: Annotated[int, typer.Option(help="seed of everything random in the run")] = 0,
    steps: Annotated[int | None, typer.Option(help="optimiser steps (default: the recipe's 2300)")] = None,
    docs: Annotated[
        Path | None, typer.Option(help="also write the held-out perplexity documents (JSONL) here")
    ] = None,
) -> None:
    """Train the reference model on CPU (about 21 minutes on 2 cores) and write its model card."""
    from longctx_eval.reference import train_reference, write_reference_docs

    if steps is not None and steps < 1:
        _die([f"--steps: must be >= 1 (got {steps})"])
    if output.exists() and any(output.iterdir()):
        _die([f"--output: {output} is not empty; give a new directory"])
    summary = train_reference(output, seed=seed, steps=steps)
    if docs is not None:
        write_reference_docs(docs)
    final = summary["final"]
    typer.echo(
        f"trained {summary['parameters'] / 1e6:.2f}M parameters in {summary['wall_time_s']:.0f} s; "
        f"answer-token accuracy {final.get('answer_token_acc', float('nan')):.3f}; wrote {output}"
    )


def main() -> None:
    # transformers logs advice (unused keys, generation flags) that would bury the progress display.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    app()


if __name__ == "__main__":
    main()
