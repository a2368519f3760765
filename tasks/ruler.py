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

from pydantic import Field, PositiveInt, field_validator

from longctx_eval.task import GroupMember, TaskParams, task_group

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


class RulerGroupParams(TaskParams):
    samples: PositiveInt = Field(20, description="samples per member and cell (RULER: 500, later 100)")
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
    out: dict[str, Any] = {"samples": params.samples, **settings}
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
