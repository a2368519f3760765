"""The typed samples and metrics of a cell: the families the report reads by attribute, and which
class reads a stored record back.

A task declares its own `Sample` and `Metrics` classes (`longctx_eval.task`), and most extend one of
the families here, because the report reads their fields by name: retrieval (a needle in filler,
scored on generated text) and perplexity (NLL over scored tokens). They live in the core rather
than beside the built-in tasks so that reading a results directory needs no plugin and no torch.

Reading: `classes_for(task_name, version)` gives the registered task's classes, so a record of a
task that is installed reads back as the instances the task wrote. A task that is not installed
(a plugin on another machine) falls back to the open base classes: every field is still there, as
an extra. A record that the task's classes reject (written by another version of the task, say)
falls back the same way, with a warning when the version is the installed one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from longctx_eval.records import AnsweredSample, CellRecord, Metrics, Sample


class LossBin(BaseModel):
    """Mean NLL over the scored tokens whose positions fall in [start, end)."""

    model_config = ConfigDict(extra="forbid")

    start: int
    end: int
    nll: float | None  # None: no scored token in the bin (or a non-finite mean, stored as null)
    n: int


class NeedleSample(AnsweredSample):
    """An answer to a needle hidden at a depth: what the report's depth heatmaps read."""

    # the depth asked for, as a fraction of the filler (None: no single needle holds the answer)
    depth_requested: float | None = None
    depth: float | None = None  # real depth: needle token offset / prompt tokens
    filler_depth: float | None = None  # where it landed, on the same scale (sentence ends snap it back)


class RetrievalSample(NeedleSample):
    """One needle-in-filler sample of `retrieval.run_retrieval` (tasks add their own fields, such as
    NIAH's `key`)."""

    n_prompt_tokens: int  # always the cell's length
    needle_token_offset: int  # index of the needle's first token
    needle_tokens: int
    depth: float
    depth_requested: float
    score_strict: float | None = None  # the answer's first number is the target
    score_lenient: float | None = None  # the target appears in the answer
    cut_mid_word: bool = False
    haystack_start_word: int = 0
    retokenizes_exactly: bool | None = None


class RetrievalMetrics(Metrics):
    """A retrieval cell: accuracy under its scoring rule, and under both rules side by side."""

    scoring: str | None = None  # 'strict' or 'lenient': which rule `accuracy` is
    accuracy_strict: float | None = None
    accuracy_lenient: float | None = None
    depth_drift: float | None = None  # the largest |filler depth − requested depth|
    depth_warning: str | None = None  # set when that drift is past retrieval.DEPTH_TOLERANCE


class PerplexitySample(Sample):
    """One scored sequence of a perplexity cell (a document, a window stream, a needle episode)."""

    n_scored_tokens: int
    nll_sum: float | None  # None only when it was not finite (stored as null)
    n_prompt_tokens: int | None = None
    ppl: float | None = None
    doc_index: int | None = None  # which document; pairs the cells of two methods on one document


class PerplexityMetrics(Metrics):
    """A perplexity cell: `ppl` (with `nll`, `n_tokens`, `n_documents` of the base) and where the
    loss sits along the sequence."""

    ppl_token: float | None = None  # exp(total NLL / total tokens)
    ppl_window_mean: float | None = None  # exp(mean of the windows' mean NLL)
    loss_by_position: list[LossBin] | None = None


# The families, most specific first: what a sample or metrics object of a task that is not
# installed reads back as when it has their fields (the report still pairs, bins and explains it).
SAMPLE_FAMILIES: tuple[type[Sample], ...] = (RetrievalSample, NeedleSample, PerplexitySample, AnsweredSample)
METRICS_FAMILIES: tuple[type[Metrics], ...] = (RetrievalMetrics, PerplexityMetrics)


@dataclass(frozen=True)
class PayloadClasses:
    """The classes one task's records read back as: the first sample class that validates a line
    (the task's own first, the base class last), and the task's metrics class."""

    samples: tuple[type[Sample], ...] = (*SAMPLE_FAMILIES, Sample)
    metrics: type[Metrics] | None = None  # None: the task is not installed (read by family)
    same_version: bool = False  # the installed task is the version that wrote the record


BASE = PayloadClasses()
_warned: set[tuple[str, str]] = set()
_plugins_loaded = False
# (task, version, registered tasks) -> classes: a report asks once per record, 100k times.
_known: dict[tuple[str, str, int], PayloadClasses] = {}


def classes_for(task_name: str, version: str) -> PayloadClasses:
    """The registered task's classes (installed plugins are loaded once on first need), else the
    families and the base classes."""
    from longctx_eval.task import TASKS, load_task_plugins

    global _plugins_loaded
    names = TASKS.names()
    if task_name not in names and not _plugins_loaded:
        _plugins_loaded = True
        try:  # once: the built-in tasks and installed plugins (entry points, the env's tasks path)
            load_task_plugins()
        except Exception as exc:  # a broken plugin file must not make results unreadable
            warnings.warn(
                f"task plugins could not be loaded to read results ({exc}); read by family", stacklevel=3
            )
        names = TASKS.names()
    key = (task_name, version, len(names))
    if key not in _known:
        _known[key] = _classes(TASKS.get(task_name), version) if task_name in names else BASE
    return _known[key]


def _classes(cls: Any, version: str) -> PayloadClasses:
    own: tuple[type[Sample], ...] = () if cls.Sample is Sample else (cls.Sample,)
    # A task that keeps the base Sample is read by family, as if it were not installed.
    samples: tuple[type[Sample], ...] = tuple(dict.fromkeys((*own, *SAMPLE_FAMILIES, Sample)))
    return PayloadClasses(samples, cls.Metrics, same_version=str(cls.version) == version)


def classes_of(record: CellRecord) -> PayloadClasses:
    """`classes_for` the record's task (records written before `task_name` existed name it `task`)."""
    return classes_for(record.task_name or record.task, record.task_version)


def typed_record(record: CellRecord) -> CellRecord:
    """The record with its metrics as an instance of its task's own Metrics class (or of the family
    whose fields it has, for a task that is not installed or whose class rejects it)."""
    if record.status != "ok":
        return record  # a failed or skipped cell measured nothing: base metrics, all empty
    classes = classes_of(record)
    own = classes.metrics if classes.metrics is not Metrics else None  # None: read by family
    if own is not None and isinstance(record.metrics, own):
        return record  # typed already (read twice, or written by this process)
    fields = _fields(record.metrics)
    if own is not None:
        try:
            record.metrics = own.model_validate(fields)
            return record
        except ValidationError as exc:
            _rejected(record.task_name, record.task_version, classes, exc)
    if type(record.metrics) is not Metrics:
        return record
    extra = set(record.metrics.model_extra or ())
    for family in METRICS_FAMILIES:
        if extra & (family.model_fields.keys() - Metrics.model_fields.keys()):
            try:
                record.metrics = family.model_validate(fields)
            except ValidationError:
                continue
            break
    return record


def _fields(model: BaseModel) -> dict[str, object]:
    return {**{k: getattr(model, k) for k in type(model).model_fields}, **(model.model_extra or {})}


def _rejected(task: str, version: str, classes: PayloadClasses, exc: ValidationError) -> None:
    """Warn once per task when a record of the installed version does not fit its metrics class
    (another version is expected not to, and reads back by family silently)."""
    if not classes.same_version or (task, version) in _warned:
        return
    _warned.add((task, version))
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    warnings.warn(
        f"metrics of task {task} {version} do not fit the installed task's class ({where}: "
        f"{err['msg']}); read by the fields they have",
        stacklevel=3,
    )
