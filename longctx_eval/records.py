"""The typed shape of what a results directory holds: cell records, samples, rotary frequencies.

One `CellRecord` per finished cell (a line of records.jsonl), the samples of a cell (a line each in
samples/<cell_id>.jsonl), and the rotary frequencies a group of cells ran with, stored once per
group under rope/<key>.json and referenced from each record by `rope_key` (they were 49% of a
records file when every record carried its own copy).

A task's metrics and samples are its own subclasses of `Metrics` and `Sample`; reading gives them
back as those classes (`payloads.typed_record`, `payloads.classes_for`). Reading is tolerant on
purpose: fields no class declares are kept (`extra="allow"`), so a directory written by a newer
longctx-eval, or by a plugin not installed here, still reports and `compare` copies records
verbatim. A record of the first format (no `schema_version`, frequencies inline under `rope`) is upgraded on
reading by `upgrade_record`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny

SCHEMA_VERSION = 2
Status = Literal["ok", "failed", "skipped"]


def _null_is_nan(value: Any) -> Any:
    return math.nan if value is None else value


# A measured float that the store wrote as null because it was not finite (`store.dumps`): it reads
# back as NaN, so one non-finite number does not make a whole sample or cell fail its class.
StoredFloat = Annotated[float, BeforeValidator(_null_is_nan)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metrics(_Open):
    """A cell's aggregate numbers: the base of every task's own Metrics class, which declares the
    rest (`payloads.RetrievalMetrics`, say)."""

    accuracy: float | None = None  # retrieval tasks: the share of samples scored correct
    n: int | None = None  # samples behind `accuracy`
    ci_low: float | None = None  # 95% interval of the headline number
    ci_high: float | None = None
    ppl: float | None = None  # perplexity tasks
    nll: float | None = None
    n_tokens: int | None = None
    n_documents: int | None = None

    def get(self, name: str, default: Any = None) -> Any:
        """A metric by name, built-in or a task's own (for notebooks; the harness reads attributes)."""
        value = getattr(self, name, None)
        return default if value is None else value


class CellRecord(_Open):
    """One finished cell: where it sits in the grid, what it measured, and how it ran."""

    schema_version: int = SCHEMA_VERSION
    cell_id: str
    model: str
    model_path: str = ""
    # The content identity of the model's files (the fingerprint behind cell ids; "hub:<rev>" for a
    # hub model): `compare` and `report` warn when two names hold the same weights. None: written
    # before it was kept.
    model_fingerprint: str | None = None
    method: str
    method_label: str
    factor: float = 1.0
    factor_mode: Literal["fixed", "auto", "none"] = "none"
    rope_parameters: dict[str, Any] = Field(default_factory=dict)
    original_context: int = 0
    task: str  # the task entry's label (its name in tables)
    task_name: str = ""  # the registered task
    task_version: str = ""
    # The task's settings. Stored once per task entry under params/<task_params_key>.json (they were
    # 29% of a records file when every record repeated them); `Results.task_params` reads them back.
    task_params: dict[str, Any] = Field(default_factory=dict)
    task_params_key: str | None = None
    task_group: str | None = None  # the task group entry it came from (e.g. 'ruler')
    task_weight: float = 1.0  # its weight in that group's average
    length: int
    seed: int = 0
    sample_batch: int = 0  # length search: the k-th batch of samples at this length (pooled in tables)
    status: Status
    # A task's own Metrics subclass when written or read with its task installed; SerializeAsAny so
    # that its declared fields are written (pydantic would dump the declared base class's fields only).
    metrics: SerializeAsAny[Metrics] = Field(default_factory=Metrics)
    n_samples: int = 0
    error: str | None = None
    traceback: str | None = None  # failed cells: where it failed (the console points here)
    duration_s: float = 0.0
    backend: dict[str, Any] = Field(default_factory=lambda: {"kind": "hf"})
    rope_key: str | None = None  # the group's frequencies: rope/<rope_key>.json
    # Length-dependent rotaries (dynamic NTK, LongRoPE) only: how generation treated them, 'prompt',
    # 'transformers' or 'exact' on the HF backend (its `length_policy`), 'static' on vLLM.
    generation_policy: str | None = None
    # What the numbers are comparable to (longctx_eval.protocols): 'ruler', 'longppl' or 'project',
    # and the differences from the benchmark the task is named after (RULER, LongPPL).
    protocol: str | None = None
    deviations: list[str] = Field(default_factory=list)
    # The cell whose computation this one shares (the same model, task, length, frequencies and
    # attention factor: pi@auto at the native length is `none` there); None when computed itself.
    computed_as: str | None = None
    finished_at: str = ""
    host: str = ""

    @property
    def backend_kind(self) -> str:
        return str(self.backend.get("kind", "hf"))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Sample(_Open):
    """One sample of a cell: the base every task's own Sample class extends (a task declares its
    fields there; fields no class declares are kept, so a newer or uninstalled task's samples still
    read). `index` orders them and pairs the samples of two methods in a paired comparison."""

    index: int = 0
    score: float | None = None

    def pairs_as(self) -> tuple[int, object, object]:
        """What must be equal for this sample to pair with another method's sample in a paired
        comparison: (index, the answer asked for, the document read), whichever of them the sample
        has, declared or kept as an extra (a task that is not installed), of whatever type."""
        return self.index, getattr(self, "target", None), getattr(self, "doc_index", None)


class AnsweredSample(Sample):
    """A sample scored on generated text: what the report's tables of wrong answers show."""

    target: str  # the reference, as shown to a reader (several joined by ", ")
    output: str  # the generated text that was scored


class RopeFrequencies(BaseModel):
    """The rotary frequencies a group of cells ran with (at its length, for length-dependent ones)."""

    model_config = ConfigDict(extra="allow")

    inv_freq: list[float]
    base_inv_freq: list[float]
    attention_factor: float = 1.0

    def key(self) -> str:
        return rope_key(self.model_dump(mode="json"))


def rope_key(frequencies: dict[str, Any]) -> str:
    return content_key(frequencies)


def content_key(value: Any) -> str:
    """A short, stable hash of a JSON value (the name of the side file it is stored in)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def upgrade_record(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A record line of any known format as the current one, and its inline frequencies if any.

    Format 1 (no schema_version) kept the frequencies inline under `rope`; they move out, and the
    record points at them by key.
    """
    if raw.get("schema_version", 1) >= SCHEMA_VERSION:
        return raw, None
    out = {k: v for k, v in raw.items() if k != "rope"}
    rope_type = str((raw.get("rope_parameters") or {}).get("rope_type", "default"))
    if "dynamic" in rope_type or rope_type == "longrope":  # format 1 generated as plain HF generate does
        kind = (raw.get("backend") or {}).get("kind", "hf")
        out.setdefault("generation_policy", "transformers" if kind == "hf" else "static")
    rope = raw.get("rope")
    if isinstance(rope, dict):
        out["rope_key"] = rope_key(rope)
    out["schema_version"] = SCHEMA_VERSION
    return out, rope if isinstance(rope, dict) else None
