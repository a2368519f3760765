"""What each number is comparable to: the protocol a task ran under and its deviations from the
benchmark it is named after (docs/protocols.md).

A task runs either under a named protocol that reproduces a published benchmark's settings
(`protocol: ruler`, `protocol: longppl`) or under this project's own settings. Either way, where
the run differs from the benchmark its task is named after (RULER for the `ruler_*` tasks and the
`ruler` group, LongPPL for key-token perplexity), each difference is listed, so no table can be
set beside a published one silently. Passkey, NIAH and plain perplexity follow this project's own
protocols and name no benchmark (tasks.md has the anchors they follow).

Read from a record's task name, label and settings only (no torch, no task import), so it works on
records written before protocols existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

RULER_SAMPLES = 500
RULER_TASKS = 13
# RULER's generation budgets (scripts/data/synthetic/constants.py), by this project's task names.
RULER_BUDGETS = {"ruler_niah": 128, "ruler_vt": 30, "ruler_cwe": 120, "ruler_fwe": 50, "ruler_qa": 32}
# The members RULER runs on Paul Graham's essays (tasks/ruler.py ESSAY_MEMBERS; kept here as names
# so that reading a record imports no task).
RULER_ESSAY_MEMBERS = (
    "niah_single_2",
    "niah_single_3",
    "niah_multikey_1",
    "niah_multivalue",
    "niah_multiquery",
)
LONGPPL_SHORT_CONTEXT, LONGPPL_STRIDE, LONGPPL_THRESHOLD = 4096, 1024, 2.0


class Comparability(BaseModel):
    """The protocol of a task's numbers and how they differ from the benchmark it is named after."""

    protocol: str = Field(description="'ruler', 'longppl', or 'project' (this project's own settings)")
    benchmark: str | None = Field(None, description="the published benchmark the task is named after")
    deviations: list[str] = Field(default_factory=list, description="differences from that benchmark")

    def text(self) -> str:
        """One sentence for a table caption."""
        own = {"ruler": "RULER's (protocol: ruler)", "longppl": "LongPPL's (protocol: longppl)"}
        name = own.get(self.protocol, "this project's own settings")
        head = f"Protocol: {name}"
        if self.benchmark is None:
            return head + "."
        if not self.deviations:
            return f"{head}; no known deviation from {self.benchmark}."
        return f"{head}; deviations from {self.benchmark}: {'; '.join(self.deviations)}."


def of_task(task_name: str, label: str, params: Mapping[str, Any]) -> Comparability:
    """The comparability of one task entry's numbers (`label` is its label, `group.member` or a
    member's own)."""
    if task_name in RULER_BUDGETS:
        return _ruler_member(task_name, label.rsplit(".", 1)[-1], params)
    if task_name == "perplexity" and params.get("mode") == "key_tokens":
        return _longppl(params)
    return Comparability(protocol="project")


def _ruler_member(task_name: str, member: str, params: Mapping[str, Any]) -> Comparability:
    ruler = params.get("protocol") == "ruler"
    out = []
    if not ruler:
        out.append("lengths exclude the generation budget (RULER: prompt + budget = length)")
    if member in RULER_ESSAY_MEMBERS and params.get("haystack") == "noise":
        out.append("noise haystack instead of RULER's essays")
    budget = params.get("max_new_tokens")
    if budget is not None and budget != RULER_BUDGETS[task_name]:
        out.append(f"generation budget {budget} (RULER: {RULER_BUDGETS[task_name]})")
    if task_name == "ruler_qa" and not ruler:
        out.append("a document layout per sample (RULER: one per length)")
    if task_name == "ruler_cwe" and not (ruler and params.get("english_words")):
        out.append("past the 8,192-word list, random six-letter strings (RULER: English words)")
    samples = params.get("samples")
    if samples is not None and samples != RULER_SAMPLES:
        out.append(f"{samples} samples per cell (RULER: {RULER_SAMPLES})")
    return Comparability(protocol="ruler" if ruler else "project", benchmark="RULER", deviations=out)


def _longppl(params: Mapping[str, Any]) -> Comparability:
    longppl = params.get("protocol") == "longppl"
    out = []
    if params.get("evaluator") is None:
        out.append("the evaluator is the evaluated model itself, unscaled (LongPPL: a separate model)")
    if not longppl:
        out.append("the evaluator sees at most its trained context (LongPPL: the whole document)")
    elif params.get("evaluator_context"):
        cap = params["evaluator_context"]
        out.append(f"the evaluator sees at most {cap} tokens (LongPPL: the whole document)")
    k, w = params.get("key_short_context"), params.get("key_stride")
    if not longppl and (k is None or w is None):
        out.append(f"short context C/4 and stride K/4 (LongPPL: {LONGPPL_SHORT_CONTEXT}/{LONGPPL_STRIDE})")
    if k is not None and k != LONGPPL_SHORT_CONTEXT:
        out.append(f"short context {k} (LongPPL: {LONGPPL_SHORT_CONTEXT})")
    if w is not None and w != LONGPPL_STRIDE:
        out.append(f"stride {w} (LongPPL: {LONGPPL_STRIDE})")
    for key, name in (("key_gain", "gain threshold"), ("key_max_nll", "long-context NLL threshold")):
        value = params.get(key)
        if value is not None and value != LONGPPL_THRESHOLD:
            out.append(f"{name} {value:g} (LongPPL: {LONGPPL_THRESHOLD:g})")
    return Comparability(protocol="longppl" if longppl else "project", benchmark="LongPPL", deviations=out)


def of_records(records: Iterable[Any], params_of: Any) -> dict[str, Comparability]:
    """Per task label (and per task group label) of these records, their comparability.
    `params_of(record)` gives a record's task settings (they may be stored apart from it)."""
    out: dict[str, Comparability] = {}
    groups: dict[str, dict[str, Comparability]] = {}
    for r in records:
        if r.task not in out:
            out[r.task] = of_task(r.task_name, r.task, params_of(r))
        if r.task_group is not None:
            groups.setdefault(r.task_group, {})[r.task] = out[r.task]
    for group, members in groups.items():
        out.setdefault(group, of_group(members))
    return out


def of_group(members: Mapping[str, Comparability]) -> Comparability:
    """A task group's average: its members' deviations, and how many of RULER's tasks it holds."""
    parts = list(members.values())
    ruler = bool(parts) and all(c.protocol == "ruler" for c in parts)
    deviations: list[str] = []
    if any(c.benchmark == "RULER" for c in parts) and len(parts) != RULER_TASKS:
        deviations.append(f"the mean of {len(parts)} of RULER's {RULER_TASKS} tasks")
    for label, c in members.items():
        for d in c.deviations:
            deviations.append(f"{label.rsplit('.', 1)[-1]}: {d}")
    benchmark = "RULER" if any(c.benchmark == "RULER" for c in parts) else None
    protocol = "ruler" if ruler else "project"
    return Comparability(protocol=protocol, benchmark=benchmark, deviations=_merged(deviations))


def _merged(deviations: Iterable[str]) -> list[str]:
    """'a: x', 'b: x' → 'a, b: x' (a deviation every member shares is listed once)."""
    by_text: dict[str, list[str]] = {}
    plain: list[str] = []
    for d in deviations:
        if ": " in d and not d.startswith("the mean"):
            member, text = d.split(": ", 1)
            by_text.setdefault(text, []).append(member)
        else:
            plain.append(d)
    return plain + [f"{', '.join(members)}: {text}" for text, members in by_text.items()]
