"""Every number says what it is comparable to: the default `ruler` group's rows list their
deviations from RULER in leaderboard.md, leaderboard.json and report.html; a group run under
`protocol: ruler` with RULER's data lists none of those; key-token perplexity names LongPPL's."""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from longctx_eval.config import TaskChoice, parse_sweep
from longctx_eval.protocols import of_task
from longctx_eval.records import CellRecord
from longctx_eval.reporting import write_report
from longctx_eval.stats import wilson_interval
from longctx_eval.store import ResultStore

BASE = {"name": "g", "models": [{"name": "m", "path": "x"}], "methods": ["none"], "lengths": [256]}


def group_records(tasks: list[TaskChoice]) -> list[dict[str, Any]]:
    """Hand-made records of the group's members at two lengths, with their real task settings."""
    out = []
    for i, t in enumerate(tasks):
        params = t.params.model_dump(mode="json")
        c = of_task(t.task, t.label, params)
        for n in (256, 512):
            low, high = wilson_interval(8, 10)
            out.append(
                {
                    "cell_id": f"c{i}-{n}",
                    "model": "m",
                    "method": "none",
                    "method_label": "none",
                    "original_context": 256,
                    "task": t.label,
                    "task_name": t.task,
                    "task_version": "1",
                    "task_params": params,
                    "task_group": t.group,
                    "task_weight": t.weight,
                    "length": n,
                    "status": "ok",
                    "metrics": {"accuracy": 0.8, "n": 10, "ci_low": low, "ci_high": high},
                    "protocol": c.protocol,
                    "deviations": c.deviations,
                }
            )
    return out


def report(tmp_path: Path, tasks: list[TaskChoice]) -> dict[str, str]:
    store = ResultStore(tmp_path)
    for r in group_records(tasks):
        store.write_cell(CellRecord.model_validate(r), None)
    write_report(tmp_path)
    return {
        name: (tmp_path / name).read_text() for name in ("leaderboard.md", "leaderboard.json", "report.html")
    }


DEFAULT_DEVIATIONS = (
    "the mean of 11 of RULER's 13 tasks",
    "niah_single_2, niah_single_3, niah_multikey_1, niah_multivalue, niah_multiquery: noise haystack "
    "instead of RULER's essays",
    "lengths exclude the generation budget (RULER: prompt + budget = length)",
    "20 samples per cell (RULER: 500)",
)


def test_the_default_ruler_groups_rows_list_their_deviations_everywhere(tmp_path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the essay and QA warnings (tested in test_ruler)
        tasks = list(parse_sweep({**BASE, "tasks": [{"task": "ruler"}]}).tasks)
    files = report(tmp_path, tasks)
    board = json.loads(files["leaderboard.json"])
    group = next(t for t in board["tables"] if t["task"] == "ruler")
    assert group["protocol"] == "project"
    for d in DEFAULT_DEVIATIONS:
        assert any(d in x for x in group["deviations"]), d
        assert d in files["leaderboard.md"], d
        assert d in html.unescape(files["report.html"]), d
    # ... each member's table too, e.g. the essay member that ran on noise.
    member = next(t for t in board["tables"] if t["task"] == "niah_single_2")
    assert "noise haystack instead of RULER's essays" in member["deviations"]
    single_1 = next(t for t in board["tables"] if t["task"] == "niah_single_1")
    assert "noise haystack instead of RULER's essays" not in single_1["deviations"]  # RULER's own noise
    # The markdown caption sits under the group's heading.
    md = files["leaderboard.md"]
    after = md[md.index("## ruler — mean accuracy") :]
    assert after.split("\n")[2].startswith("_Protocol: this project's own settings; deviations from RULER:")


def test_under_protocol_ruler_with_its_data_only_the_sample_count_is_left(tmp_path: Path):
    essay = tmp_path / "essays.txt"
    essay.write_text("An essay.\n")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("")
    entry = {
        "task": "ruler",
        "protocol": "ruler",
        "samples": 100,
        "essay_haystack": str(essay),
        "squad": str(qa),
        "hotpotqa": str(qa),
        "english_words": str(tmp_path / "english_words.json"),
    }
    tasks = list(parse_sweep({**BASE, "tasks": [entry]}).tasks)
    files = report(tmp_path / "out", tasks)
    group = next(t for t in json.loads(files["leaderboard.json"])["tables"] if t["task"] == "ruler")
    assert group["protocol"] == "ruler"
    assert group["deviations"] == [
        "niah_single_1, niah_single_2, niah_single_3, niah_multikey_1, niah_multikey_2, niah_multikey_3, "
        "niah_multivalue, niah_multiquery, vt, cwe, fwe, qa_1, qa_2: 100 samples per cell (RULER: 500)"
    ]
    assert "Protocol: RULER's (protocol: ruler)" in files["leaderboard.md"]


@pytest.mark.parametrize(
    ("params", "protocol", "expected"),
    [
        (
            {"mode": "key_tokens"},
            "project",
            [
                "the evaluator is the evaluated model itself, unscaled (LongPPL: a separate model)",
                "the evaluator sees at most its trained context (LongPPL: the whole document)",
                "short context C/4 and stride K/4 (LongPPL: 4096/1024)",
            ],
        ),
        ({"mode": "key_tokens", "protocol": "longppl", "evaluator": "big"}, "longppl", []),
        (
            {"mode": "key_tokens", "protocol": "longppl", "evaluator": "big", "key_short_context": 512},
            "longppl",
            ["short context 512 (LongPPL: 4096)"],
        ),
        ({"mode": "truncate"}, "project", []),
    ],
)
def test_key_token_perplexity_names_its_deviations_from_longppl(
    params: dict[str, Any], protocol: str, expected: list[str]
):
    c = of_task("perplexity", "key_tokens", params)
    assert (c.protocol, c.deviations) == (protocol, expected)
    assert c.benchmark == ("LongPPL" if params["mode"] == "key_tokens" else None)


def test_length_dependent_rows_show_their_generation_policy(tmp_path: Path):
    from longctx_eval.reporting import load_results
    from longctx_eval.reporting.summary import build_summary
    from longctx_eval.reporting.tables import markdown

    store = ResultStore(tmp_path)
    for i, (label, policy) in enumerate(
        [("dynamic_ntk@2", "prompt"), ("dynamic_ntk(generation=served)@2", "served"), ("none", None)]
    ):
        low, high = wilson_interval(8, 10)
        r = {
            "cell_id": f"c{i}",
            "model": "m",
            "method": label.split("@")[0].split("(")[0],
            "method_label": label,
            "task": "passkey",
            "length": 256,
            "status": "ok",
            "metrics": {"accuracy": 0.8, "n": 10, "ci_low": low, "ci_high": high},
            "generation_policy": policy,
        }
        store.write_cell(CellRecord.model_validate(r), None)
    md = markdown(build_summary(load_results([tmp_path])))
    assert "| m | dynamic_ntk@2 (prompt) |" in md
    assert "| m | dynamic_ntk(generation=served)@2 |" in md and "| m | none |" in md
    assert "served: what a vLLM server uses at every length" in md
