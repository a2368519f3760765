"""The `longctx-eval` command: each command parses its options, calls one library function, prints.

Exit codes (docs/cli.md): 0 all cells ok; 1 some cells failed (the rest ran); 2 bad config
or input (one `error:` line per problem, all of them at once); 3 the environment refused (a
read-only or full disk, a missing device); 4 an internal error (a bug: `--debug` shows the
traceback); 130/143 stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import errno
import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import yaml

from longctx_eval.errors import ConfigError, EnvironmentProblem

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Measure how far a model's context really reaches, and which RoPE method gets it furthest.",
)

EXIT_CELLS_FAILED, EXIT_CONFIG, EXIT_ENVIRONMENT, EXIT_INTERNAL = 1, 2, 3, 4
_DEBUG = {"on": bool(os.environ.get("LONGCTX_EVAL_DEBUG"))}
F = TypeVar("F", bound=Callable[..., Any])


# Options of the whole command line, accepted before or after the command's name (main() takes them
# out of the arguments wherever they are; click alone knows them only before the command).
GLOBAL_OPTIONS = ("--debug", "--version")


def _version(value: bool) -> None:
    if value:
        from longctx_eval import __version__

        typer.echo(f"longctx-eval {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="show tracebacks of unexpected errors (also after the command)")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    if debug:
        _DEBUG["on"] = True


def split_global_options(args: list[str]) -> tuple[list[str], list[str]]:
    """(the global options given anywhere before a `--`, the other arguments in order)."""
    end = args.index("--") if "--" in args else len(args)
    found = [a for a in args[:end] if a in GLOBAL_OPTIONS]
    rest = [a for a in args[:end] if a not in GLOBAL_OPTIONS] + args[end:]
    return found, rest


def _console(stderr: bool = False) -> Any:
    """A rich console whose tables fit the terminal, or, piped into a file, print whole."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=100_000, soft_wrap=True)  # no terminal: never wrap


class ProgressStyle(StrEnum):
    auto = "auto"
    rich = "rich"
    plain = "plain"


def _die(lines: list[str], code: int = EXIT_CONFIG) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def handled(command: F) -> F:
    """One error path for every command: config problems exit 2, the environment 3, bugs 4."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from longctx_eval.reporting import MergeError

        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ConfigError as exc:
            _die([f"{loc}: {msg}" if loc else msg for loc, msg in exc.problems])
        except (MergeError, FileNotFoundError) as exc:
            _die([str(exc)])
        except EnvironmentProblem as exc:
            _die([str(exc)], EXIT_ENVIRONMENT)
        except OSError as exc:
            _die([_os_error(exc)], EXIT_ENVIRONMENT)
        except Exception as exc:
            if _DEBUG["on"]:
                raise
            text = str(exc).strip().splitlines()
            first = text[0] if text else ""
            _die(
                [f"internal error: {type(exc).__name__}: {first} (--debug shows the traceback)"],
                EXIT_INTERNAL,
            )

    return wrapper  # type: ignore[return-value]


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}; free some and run again (finished cells are kept)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where}: {exc.strerror}; choose another --output"
    return f"{exc.strerror or type(exc).__name__}{where}"


@contextmanager
def _named_as_options(**renamed: str) -> Iterator[None]:
    """Problems the library names by parameter (`ppl_multiple`), named as the options typed
    (`renamed`: a parameter whose option has another name)."""
    try:
        yield
    except ConfigError as exc:
        _die([f"--{_option(loc, renamed)}: {msg}" if loc else msg for loc, msg in exc.problems])


def _option(loc: str, renamed: dict[str, str] | None = None) -> str:
    name, _, rest = loc.partition(" ")
    name = (renamed or {}).get(name, name)
    return name.replace("_", "-") + (f" {rest}" if rest else "")


@app.command()
@handled
def run(
    config: Annotated[Path, typer.Argument(help="sweep YAML")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="results directory")] = None,
    progress: Annotated[ProgressStyle, typer.Option(help="progress display")] = ProgressStyle.auto,
    shard: Annotated[
        str | None, typer.Option(help="run only part K of N (0-based K), e.g. --shard $SLURM_ARRAY_TASK_ID/8")
    ] = None,
) -> None:
    """Run a sweep: every cell not finished yet. Exit 0: all ok; 1: some cell failed; 2: bad config;
    3: the environment refused (disk, permissions, device); 130/143: stopped by SIGINT/SIGTERM
    (finished cells are kept: run again to resume)."""
    from longctx_eval import api
    from longctx_eval.reporting.console import print_summary

    summary = api.run(config, output, progress.value, shard)
    if summary.interrupted:
        typer.echo(summary.stop_message(), err=True)
        raise typer.Exit(128 + (summary.stopped_by or 2))
    console = _console(stderr=True)
    if summary.has_results:
        print_summary(api.read_summary(summary), console)
    console.print(summary.counts_line())
    for line in summary.failure_lines():
        console.print(line, markup=False)
    raise typer.Exit(EXIT_CELLS_FAILED if summary.failed else 0)


@app.command()
@handled
def validate(config: Annotated[Path, typer.Argument(help="sweep YAML")]) -> None:
    """Check a sweep YAML (and the models' configs and tokenizers) without running anything."""
    from longctx_eval import api

    plan = api.validate(config)
    typer.echo(f"ok: {plan.describe()}")
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)


ThresholdOpt = Annotated[float, typer.Option(help="accuracy at or above which a length passes")]
RelativeOpt = Annotated[
    float | None,
    typer.Option(help="instead: accuracy at or above this × the reference method's native-length value"),
]
PplMultipleOpt = Annotated[
    float,
    typer.Option(help="perplexity passes at or below this × the reference method's native-length value"),
]
AgainstOpt = Annotated[str, typer.Option(help="reference method of relative rules and paired differences")]
PicturesOpt = Annotated[bool, typer.Option(help="also write plots/*.png and report.html")]
ShowAllOpt = Annotated[
    bool, typer.Option("--all", help="also list cells an edited sweep's later run superseded")
]


@app.command()
@handled
def report(
    directory: Annotated[Path, typer.Argument(help="results directory")],
    threshold: ThresholdOpt = 0.9,
    relative: RelativeOpt = None,
    ppl_multiple: PplMultipleOpt = 1.5,
    against: AgainstOpt = "none",
    pictures: PicturesOpt = True,
    show_all: ShowAllOpt = False,
) -> None:
    """Write leaderboard.json/.md/.csv/.tex, plots and report.html into DIR from its records alone."""
    from longctx_eval import api

    options = {"threshold": threshold, "relative": relative, "ppl_multiple": ppl_multiple, "against": against}
    with _named_as_options():
        paths = api.report(directory, options, pictures=pictures, show_superseded=show_all)
    for p in paths:
        typer.echo(str(p))


@app.command()
@handled
def compare(
    directories: Annotated[list[Path], typer.Argument(help="results directories to merge")],
    output: Annotated[Path, typer.Option("--output", "-o", help="new directory for the merged results")],
    threshold: ThresholdOpt = 0.9,
    relative: RelativeOpt = None,
    ppl_multiple: PplMultipleOpt = 1.5,
    against: AgainstOpt = "none",
    pictures: PicturesOpt = True,
    show_all: ShowAllOpt = False,
) -> None:
    """Merge several results directories (models, runs, backends, shards) into one report (report's
    options)."""
    from longctx_eval import api

    options = {"threshold": threshold, "relative": relative, "ppl_multiple": ppl_multiple, "against": against}
    with _named_as_options():
        paths = api.compare(list(directories), output, options, pictures=pictures, show_superseded=show_all)
    typer.echo(f"merged {len(directories)} directories into {output} ({len(paths)} files)")


@app.command("ls")
@handled
def list_registered(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also list each one's settings")] = False,
    config: Annotated[
        Path | None, typer.Option(help="also list the task plugins this sweep's tasks_path names")
    ] = None,
) -> None:
    """List the registered methods, tasks, task groups, backends and executors."""
    from longctx_eval.catalog import describe_registries

    if config is not None:
        from longctx_eval import api

        api.sweep_config(config)  # loads its tasks_path plugins
    typer.echo(describe_registries(verbose))


def _parse_params(values: list[str]) -> dict[str, Any]:
    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep:
            _die([f"--param: expected KEY=VALUE, got {item!r}"])
        out[key.strip()] = yaml.safe_load(raw)
    return out


@app.command()
@handled
def rope(
    model: Annotated[str, typer.Option(help="model directory or hub id (only its config is read)")],
    method: Annotated[str, typer.Option(help="method name (see `longctx-eval ls`)")],
    factor: Annotated[
        float | None, typer.Option(help="scale factor s (required by methods that take one)")
    ] = None,
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
    from longctx_eval import api
    from longctx_eval.reporting.console import print_rope_table

    try:
        result = api.rope_table(
            model,
            method,
            factor,
            target_length,
            original_context,
            _parse_params(param or []),
            factors_file,
            revision,
        )
    except ConfigError as exc:  # the options are --model, --method, ...: name them as typed
        _die([f"--{_option(loc)}: {msg}" if loc else msg for loc, msg in exc.problems])
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    print_rope_table(result, result.label, _console())


@app.command()
@handled
def analyze(
    model: Annotated[str, typer.Option(help="model directory or hub id")],
    dataset: Annotated[str, typer.Option(help="local .txt/.jsonl/.json/.parquet file, or a hub dataset id")],
    length: Annotated[int, typer.Option(help="tokens per document (BOS included)")],
    documents: Annotated[int, typer.Option(help="documents to run")] = 4,
    method: Annotated[
        list[str] | None, typer.Option(help="method to compare, NAME or NAME@FACTOR (repeatable)")
    ] = None,
    factors_file: Annotated[Path | None, typer.Option(help="longrope factors JSON")] = None,
    target_length: Annotated[
        list[int] | None,
        typer.Option(help="length of the out-of-distribution share (repeatable; default --length)"),
    ] = None,
    column: Annotated[str, typer.Option(help="text column")] = "text",
    offsets: Annotated[int, typer.Option(help="offsets 0..K-1 measured for positional heads")] = 8,
    shuffle: Annotated[
        bool, typer.Option(help="also run the shuffled tokens (positional vs content heads)")
    ] = True,
    seed: Annotated[int, typer.Option(help="seeds the shuffle and the Gaussian draws")] = 0,
    dtype: Annotated[str, typer.Option(help="float32 | bfloat16 | float16 | auto")] = "float32",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1")] = "cpu",
    output: Annotated[Path | None, typer.Option(help="write usage.json and pictures here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Which rotary frequencies a model uses, and what each method does to them (Barbero et al. 2024)."""
    from longctx_eval import api
    from longctx_eval.usage.output import summary_lines, write_outputs

    methods = [_method_at(m) for m in method or []]
    with _named_as_options():
        result = api.analyze(
            model,
            dataset,
            length,
            documents,
            methods,
            factors_file,
            target_length,
            column=column,
            offsets=offsets,
            shuffle=shuffle,
            seed=seed,
            dtype=dtype,
            device=device,
        )
    if output is not None:
        for path in write_outputs(result, output):
            typer.echo(f"wrote {path}", err=True)
    typer.echo(json.dumps(result.to_json()) if as_json else "\n".join(summary_lines(result)))


def _method_at(text: str) -> tuple[str, float | None]:
    name, _, factor = text.partition("@")
    try:
        return name, float(factor) if factor else None
    except ValueError:
        _die([f"--method: expected NAME or NAME@FACTOR, got {text!r}"])


@app.command("longrope-factors")
@handled
def longrope_factors(
    model: Annotated[str, typer.Option(help="model directory or hub id (only its config is read)")],
    factor: Annotated[float, typer.Option(help="scale factor s")],
    output: Annotated[Path, typer.Option(help="factors JSON to write")],
    original_context: Annotated[int | None, typer.Option(help="override the trained context L")] = None,
) -> None:
    """Write LongRoPE's unsearched starting point (YaRN-derived per-pair factors) for a model."""
    from longctx_eval import api

    with _named_as_options():
        api.longrope_factors(model, factor, output, original_context)
    typer.echo(f"wrote {output} (unsearched, yarn-derived, factor {factor:g})")


@app.command("longrope-search")
@handled
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
    objective: Annotated[
        str,
        typer.Option(
            help="what the search minimises: ppl (perplexity on the documents, the paper's), key_tokens "
            "(perplexity on their key tokens, LongPPL), needle (perplexity on the answers of passkey "
            "episodes built from the documents, LongRoPE2)"
        ),
    ] = "ppl",
    evaluator: Annotated[
        str | None,
        typer.Option(
            help="key_tokens: the model that picks the key tokens (default: the model itself, unscaled)"
        ),
    ] = None,
    seed_method: Annotated[
        list[str] | None,
        typer.Option(help="another seed: a static method, plugins too, NAME or NAME@FACTOR (repeatable)"),
    ] = None,
) -> None:
    """Search LongRoPE's per-pair factors for a model (evolutionary search on perplexity; resumable)."""
    from longctx_eval import api
    from longctx_eval.longrope_search.request import SearchRequest

    console = _console(stderr=True)
    request = SearchRequest(
        model=model,
        target_length=target_length,
        dataset=dataset,
        output=output,
        factor=factor,
        documents=documents,
        held_out=held_out,
        column=column,
        population=population,
        generations=generations,
        parents=parents,
        mutations=mutations,
        crossovers=crossovers,
        mutation_prob=mutation_prob,
        high_multiple=high_multiple,
        paper=paper,
        original_context=original_context,
        seed=seed,
        objective=objective,
        evaluator=evaluator,
        seed_methods=tuple(seed_method or ()),
    )
    with _named_as_options(seed_methods="seed_method"):
        result = api.longrope_search(request, on_progress=lambda line: console.print(line, markup=False))
    s = result.search
    if s is None:  # the API always records its search; a file written otherwise has nothing to print
        typer.echo(f"wrote {output}")
        return
    seeds = ", ".join(f"{k} {v:.4g}" for k, v in s.seed_ppl.items())
    typer.echo(f"best ppl {s.best_ppl:.4g} at {target_length} tokens (seeds: {seeds}); wrote {output}")


@app.command("train-reference")
@handled
def train_reference_command(
    output: Annotated[Path, typer.Option(help="directory the model, tokenizer and card are saved in")],
    seed: Annotated[int, typer.Option(help="seed of everything random in the run")] = 0,
    steps: Annotated[int | None, typer.Option(help="optimiser steps (default: the recipe's 2300)")] = None,
    docs: Annotated[
        Path | None, typer.Option(help="also write the held-out perplexity documents (JSONL) here")
    ] = None,
    rope: Annotated[
        str, typer.Option(help="position encoding: default (RoPE), p_rope (p-RoPE) or none (NoPE)")
    ] = "default",
    p: Annotated[
        float | None, typer.Option(help="p_rope: fraction of highest-frequency pairs kept rotating (0.75)")
    ] = None,
    rope_theta: Annotated[float | None, typer.Option(help="rope base b (default: the recipe's 1000)")] = None,
    init: Annotated[
        str, typer.Option(help="initial weights: planted (induction circuit) or random (nothing planted)")
    ] = "planted",
) -> None:
    """Train the reference model on CPU (about 21 minutes on 2 cores) and write its model card."""
    from longctx_eval import api

    with _named_as_options():
        summary = api.train_reference(
            output, seed=seed, steps=steps, docs=docs, rope=rope, p=p, rope_theta=rope_theta, init=init
        )
    final = summary["final"]
    typer.echo(
        f"trained {summary['parameters'] / 1e6:.2f}M parameters in {summary['wall_time_s']:.0f} s; "
        f"answer-token accuracy {final.get('answer_token_acc', float('nan')):.3f}; wrote {output}"
    )


def main(argv: list[str] | None = None) -> None:
    import sys

    from longctx_eval.quiet import drop_expected_log_lines, one_line_warnings
    from longctx_eval.threads import choose_wait_policy

    # transformers logs advice (unused keys, generation flags) that would bury the progress display.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    drop_expected_log_lines()
    one_line_warnings()
    choose_wait_policy()  # before torch is imported (see longctx_eval.threads)
    found, rest = split_global_options(list(sys.argv[1:] if argv is None else argv))
    app(args=found + rest, prog_name="longctx-eval")


if __name__ == "__main__":
    main()
