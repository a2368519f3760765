"""The RULER suite as one `tasks:` entry: `- {task: ruler}` expands into RULER's 13 default tasks.

RULER (Hsieh et al. 2024) reports the plain mean of 13 tasks (`scripts/synthetic.yaml` and
`config_tasks.sh`): niah_single_1..3, niah_multikey_1..3, niah_multivalue, niah_multiquery, vt,
cwe, fwe, qa_1, qa_2, each with weight 1 here. The members are entries of the `ruler_niah`,
`ruler_vt`, `ruler_cwe`, `ruler_fwe` and `ruler_qa` tasks with RULER's settings for each; the
report adds the group's average row per length.

What RULER downloads and this project cannot:
- the "essay" haystack (Paul Graham's essays) of niah_single_2/3, multikey_1, multivalue and
  multiquery: give any prose with `essay_haystack:`; without it those members use the noise
  haystack, which their samples record (`haystack: noise`), and they then test what niah_single_1
  tests with other values and layouts;
- SQuAD and HotpotQA: give `squad:` and `hotpotqa:` (local files or hub ids); without them qa_1
  and qa_2 are left out, with a warning, and the average is over the 11 others.

Example: `- {task: ruler, samples: 50, essay_haystack: data/essays.txt, squad: data/squad.json}`
gives the entries `niah_single_1` … `fwe`, `qa_1` (13 without hotpotqa: 12).
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import Field, PositiveInt, field_validator, model_validator

from longctx_eval.task import GroupMember, TaskParams, task_group

from .ruler_common import RULER_SAMPLES, RulerProtocol, protocol_field

# RULER's synthetic.yaml: member label -> (task, settings beyond the task's defaults).
ESSAY = "essay"
MEMBERS: dict[str, tuple[str, dict[str, Any]]] = {
    "niah_single_1": (
        "ruler_niah",
        {"haystack": "noise", "type_needle_k": "words", "type_needle_v": "numbers"},
    ),
    "niah_single_2": (
        "ruler_niah",
        {"haystack": ESSAY, "type_needle_k": "words", "type_needle_v": "numbers"},
    ),
    "niah_single_3": ("ruler_niah", {"haystack": ESSAY, "type_needle_k": "words", "type_needle_v": "uuids"}),
    "niah_multikey_1": ("ruler_niah", {"haystack": ESSAY, "num_needle_k": 4}),
    "niah_multikey_2": ("ruler_niah", {"haystack": "needle"}),
    "niah_multikey_3": (
        "ruler_niah",
        {"haystack": "needle", "type_needle_k": "uuids", "type_needle_v": "uuids"},
    ),
    "niah_multivalue": ("ruler_niah", {"haystack": ESSAY, "num_needle_v": 4}),
    "niah_multiquery": ("ruler_niah", {"haystack": ESSAY, "num_needle_q": 4}),
    "vt": ("ruler_vt", {"haystack": "noise", "num_chains": 1, "num_hops": 4}),
    "cwe": ("ruler_cwe", {"freq_cw": 30, "freq_ucw": 3, "num_cw": 10}),
    "fwe": ("ruler_fwe", {"alpha": 2.0}),
    "qa_1": ("ruler_qa", {"format": "squad"}),
    "qa_2": ("ruler_qa", {"format": "hotpotqa"}),
}
ESSAY_MEMBERS = tuple(label for label, (_, s) in MEMBERS.items() if s.get("haystack") == ESSAY)


class RulerGroupParams(TaskParams):
    protocol: RulerProtocol | None = protocol_field()
    samples: PositiveInt = Field(
        20, description="samples per member and cell (RULER: 500, later 100; protocol ruler: 500 if unset)"
    )
    essay_haystack: str | None = Field(
        None,
        description="prose file or hub dataset for RULER's 'essay' members (Paul Graham's essays in "
        "RULER); none: they use the noise haystack",
    )
    haystack_column: str = Field("text", description="text column of the essay haystack dataset")
    haystack_split: str = Field("train", description="split of a hub essay haystack")
    squad: str | None = Field(
        None, description="SQuAD data for qa_1 (local file or hub id); none: qa_1 left out"
    )
    squad_split: str = Field("validation", description="split of a hub SQuAD dataset")
    hotpotqa: str | None = Field(
        None, description="HotpotQA data for qa_2 (local file or hub id); none: qa_2 left out"
    )
    hotpotqa_split: str = Field("validation", description="split of a hub HotpotQA dataset")
    hotpotqa_subset: str | None = Field(
        None, description="configuration of a hub HotpotQA (hotpot_qa: distractor)"
    )
    exclude: list[str] = Field(
        default_factory=list, description="members left out (e.g. cwe where the lengths are too short for it)"
    )
    max_new_tokens: PositiveInt | None = Field(
        None, description="one generation budget for every member (default: RULER's, per task)"
    )
    english_words: str | None = Field(
        None,
        description="protocol ruler: English words for cwe past the 8,192-word list (RULER's "
        "json/english_words.json, or a .txt file, one word a line)",
    )

    @model_validator(mode="after")
    def _ruler_data(self) -> RulerGroupParams:
        """Under RULER's protocol its data are required: nothing is silently replaced."""
        if self.protocol != "ruler":
            return self
        missing = []
        if self.essay_haystack is None and any(m not in self.exclude for m in ESSAY_MEMBERS):
            missing.append(
                "essay_haystack (RULER's Paul Graham essays for "
                f"{', '.join(m for m in ESSAY_MEMBERS if m not in self.exclude)}: a local .txt/.jsonl/"
                ".parquet file of essays, e.g. the one RULER's download_paulgraham_essay.py writes, or a "
                "`datasets` dataset id)"
            )
        if self.squad is None and "qa_1" not in self.exclude:
            missing.append("squad (SQuAD v2 dev for qa_1: a local .json/.jsonl/.parquet file or dataset id)")
        if self.hotpotqa is None and "qa_2" not in self.exclude:
            missing.append(
                "hotpotqa (HotpotQA distractor dev for qa_2: a local .json/.jsonl/.parquet file or a "
                "dataset id)"
            )
        if missing:
            raise ValueError(
                "protocol ruler needs RULER's data; missing: " + "; ".join(missing) + " (or leave the "
                "member out with exclude:, which the report then lists as a deviation)"
            )
        return self

    @field_validator("exclude")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in MEMBERS]
        if unknown:
            raise ValueError(f"unknown members {unknown} (valid: {', '.join(MEMBERS)})")
        return value


@task_group
class Ruler:
    name = "ruler"
    Params = RulerGroupParams

    @staticmethod
    def expand(params: RulerGroupParams) -> list[GroupMember]:
        out = []
        missing = []
        noise = [m for m in ESSAY_MEMBERS if m not in params.exclude] if params.essay_haystack is None else []
        if noise:
            warnings.warn(
                f"ruler: {', '.join(noise)} use the noise haystack, not RULER's essays (give "
                "`essay_haystack:`); niah_single_2 then tests what niah_single_1 tests",
                stacklevel=2,
            )
        for label, (task_name, settings) in MEMBERS.items():
            if label in params.exclude:
                continue
            member = member_settings(params, label, task_name, settings)
            if member is None:
                missing.append(label)
                continue
            out.append(GroupMember(label, task_name, member, weight=1.0))
        if missing:
            warnings.warn(
                f"ruler: {', '.join(missing)} left out (give `squad:` / `hotpotqa:` to run RULER's QA "
                f"tasks); the group's average is over {len(out)} tasks",
                stacklevel=2,
            )
        return out


def member_settings(
    params: RulerGroupParams, label: str, task_name: str, settings: dict[str, Any]
) -> dict[str, Any] | None:
    """The member's settings as they would be written in the YAML (None: QA without its dataset)."""
    ruler = params.protocol == "ruler"
    samples = RULER_SAMPLES if ruler and "samples" not in params.model_fields_set else params.samples
    out: dict[str, Any] = {"samples": samples, **settings}
    if ruler:
        out["protocol"] = "ruler"
        if task_name == "ruler_cwe" and params.english_words is not None:
            out["english_words"] = params.english_words
    if params.max_new_tokens is not None:
        out["max_new_tokens"] = params.max_new_tokens
    if out.get("haystack") == ESSAY:
        out["haystack"] = params.essay_haystack or "noise"
        if params.essay_haystack:
            out.update(haystack_column=params.haystack_column, haystack_split=params.haystack_split)
    if label == "qa_1":
        if params.squad is None:
            return None
        out.update(dataset=params.squad, split=params.squad_split)
    if label == "qa_2":
        if params.hotpotqa is None:
            return None
        out.update(dataset=params.hotpotqa, split=params.hotpotqa_split, subset=params.hotpotqa_subset)
    return out
