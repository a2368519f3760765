"""Reports from hand-made records: tables, intervals, effective length, escaping, merging, and the
HTML page rendered in a real (headless) browser."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.report import MergeError, ReportOptions, compare, leaderboard, load_results, write_report
from longctx_eval.report.summary import all_series, effective_length
from longctx_eval.report.tables import csv_text, latex, markdown
from longctx_eval.stats import bootstrap_perplexity, wilson_interval
from longctx_eval.store import ResultStore


def rec(
    cid: str,
    method: str,
    task: str,
    length: int,
    status: str = "ok",
    model: str = "m",
    version: str = "1",
    **metrics: Any,
) -> dict[str, Any]:
    return {
        "cell_id": cid,
        "model": model,
        "method": method.split("@")[0],
        "method_label": method,
        "factor": 1.0,
        "factor_mode": "fixed",
        "original_context": 256,
        "task": task,
        "task_version": version,
        "length": length,
        "status": status,
        "metrics": metrics,
        "error": "boom" if status == "failed" else None,
        "duration_s": 1.0,
        "backend": {"kind": "hf"},
    }


def acc(cid: str, method: str, length: int, value: float, n: int = 10, **kw: Any) -> dict[str, Any]:
    low, high = wilson_interval(value * n, n)
    return rec(cid, method, "passkey", length, accuracy=value, n=n, ci_low=low, ci_high=high, **kw)


def ppl(cid: str, method: str, length: int, value: float, **kw: Any) -> dict[str, Any]:
    return rec(
        cid,
        method,
        "perplexity",
        length,
        ppl=value,
        nll=1.0,
        n_tokens=100,
        ci_low=value * 0.9,
        ci_high=value * 1.1,
        **kw,
    )


def results_dir(
    tmp_path: Path, records: list[dict[str, Any]], samples: dict[str, list[dict[str, Any]]] | None = None
) -> Path:
    store = ResultStore(tmp_path)
    for r in records:
        store.write_cell(r, (samples or {}).get(r["cell_id"]))
    return tmp_path


# -- intervals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Wilson score intervals at 95% (z = 1.95996), as computed by R's prop.test(correct = FALSE).
    [
        (8, 10, 0.4901625, 0.9433178),
        (0, 10, 0.0, 0.2775328),
        (10, 10, 0.7224672, 1.0),
        (50, 100, 0.4038315, 0.5961685),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-6)


def test_bootstrap_over_documents():
    # Identical documents: no spread at all.
    assert bootstrap_perplexity([20.0] * 5, [10] * 5, seed=1) == pytest.approx((7.389056, 7.389056), rel=1e-6)
    low, high = bootstrap_perplexity([10.0, 30.0, 20.0, 25.0], [10, 10, 10, 10], seed=1)
    assert 2.718 < low < 7.39 < high < 20.09  # within the single-document extremes, around the pooled value
    assert bootstrap_perplexity([10.0, 30.0], [10, 10], seed=3) == bootstrap_perplexity(
        [10.0, 30.0], [10, 10], seed=3
    )


# -- effective length --------------------------------------------------------------------------


def test_effective_length_is_where_the_score_stops_passing(tmp_path: Path):
    results = load_results(
        [
            results_dir(
                tmp_path,
                [
                    acc("1", "none", 256, 1.0),
                    acc("2", "none", 512, 0.9),
                    acc("3", "none", 1024, 0.5),
                    acc("4", "none", 2048, 1.0),
                    acc("5", "yarn@2", 256, 1.0),
                    rec("6", "yarn@2", "passkey", 512, "failed"),
                    acc("7", "yarn@2", 1024, 1.0),
                    acc("8", "pi@2", 256, 0.8),
                    acc("9", "pi@2", 512, 1.0),
                ],
            )
        ]
    )
    series = {s.method_label: s for s in all_series(results, "passkey")}
    opts = ReportOptions(threshold=0.9)
    assert effective_length(series["none"], [], opts) == 512  # 2048 passes again, but 1024 broke the run
    assert effective_length(series["yarn@2"], [], opts) == 256  # a failed cell does not pass
    assert effective_length(series["pi@2"], [], opts) == 0
    assert effective_length(series["pi@2"], [], ReportOptions(threshold=0.8)) == 512


def test_perplexity_effective_length_uses_the_native_value(tmp_path: Path):
    results = load_results(
        [
            results_dir(
                tmp_path,
                [
                    ppl("1", "none", 256, 10.0),
                    ppl("2", "none", 512, 14.0),
                    ppl("3", "none", 1024, 40.0),
                    ppl("4", "yarn@4", 256, 11.0),
                    ppl("5", "yarn@4", 512, 12.0),
                    ppl("6", "yarn@4", 1024, 15.5),
                ],
            )
        ]
    )
    series = all_series(results, "perplexity")
    by = {s.method_label: s for s in series}
    # native value: none at 256 (= L) is 10 → limit 15 with the default 1.5×
    assert effective_length(by["none"], series, ReportOptions()) == 512
    assert effective_length(by["yarn@4"], series, ReportOptions()) == 512
    assert effective_length(by["yarn@4"], series, ReportOptions(ppl_multiple=1.6)) == 1024


def test_leaderboard_is_sorted_by_effective_length(tmp_path: Path):
    results = load_results(
        [
            results_dir(
                tmp_path,
                [
                    acc("1", "none", 256, 1.0),
                    acc("2", "none", 512, 0.0),
                    acc("3", "yarn@2", 256, 1.0),
                    acc("4", "yarn@2", 512, 1.0),
                ],
            )
        ]
    )
    assert [r.method_label for r in leaderboard(results, ReportOptions())] == ["yarn@2", "none"]
    md = markdown(results, "t", ReportOptions())
    assert md.index("| m | yarn@2 | 512 | 512 |") < md.index("| m | none | 256 | 256 |")


# -- tables ------------------------------------------------------------------------------------


def test_tables_show_plus_minus_and_mark_failures(tmp_path: Path):
    records = [
        acc("1", "none", 256, 0.8),
        rec("2", "none", "passkey", 512, "failed"),
        rec("3", "pi@2", "passkey", 256, "skipped"),
    ]
    results = load_results([results_dir(tmp_path, records)])
    md = markdown(results, "t", ReportOptions())
    assert "| m | none | 0.80 ±0.23 | fail |" in md and "| m | pi@2 | skip |" in md
    tex = latex(results, ReportOptions())
    assert r"0.80 $\pm$0.23" in tex and r"\toprule" in tex
    rows = list(csv.DictReader(io.StringIO(csv_text(results))))
    assert len(rows) == 3 and rows[0]["accuracy"] == "0.8" and rows[0]["backend"] == "hf"


def test_latest_record_of_a_cell_wins(tmp_path: Path):
    results = load_results(
        [results_dir(tmp_path, [rec("1", "none", "passkey", 256, "failed"), acc("1", "none", 256, 1.0)])]
    )
    assert [r["status"] for r in results.records] == ["ok"]


def test_dynamic_ntk_is_flagged_backend_specific(tmp_path: Path):
    results = load_results([results_dir(tmp_path, [acc("1", "dynamic_ntk@2", 256, 1.0)])])
    assert "backend-specific" in markdown(results, "t", ReportOptions())


# -- pictures and html -------------------------------------------------------------------------

# If this ever executes, the dumped DOM carries data-pwned (checked in the browser test).
HOSTILE = (
    "<script>document.body.setAttribute('data-pwned', '1')</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', '2')\">"
)


def niah_dir(tmp_path: Path) -> Path:
    records, samples = [], {}
    for i, (method, length) in enumerate([(m, n) for m in ("none", "yarn@2") for n in (256, 512)]):
        cid = f"n{i}"
        scores = [1.0, 1.0, 0.0] if method == "none" and length == 512 else [1.0, 1.0, 1.0]
        samples[cid] = [
            {
                "index": j,
                "depth_requested": d,
                "depth": d,
                "target": "1234567",
                "output": HOSTILE if s == 0 else " 1234567.",
                "score": s,
            }
            for j, (d, s) in enumerate(zip([0.0, 0.5, 1.0], scores, strict=True))
        ]
        r = rec(cid, method, "niah", length, accuracy=sum(scores) / 3, n=3, ci_low=0.2, ci_high=1.0)
        r["rope"] = {"inv_freq": [1.0, 0.1, 0.01], "base_inv_freq": [1.0, 0.1, 0.01], "attention_factor": 1.0}
        records.append(r)
    records += [ppl("p1", "none", 256, 10.0), ppl("p2", "none", 512, 30.0)]
    records[-1]["metrics"]["loss_by_position"] = [
        {"start": 0, "end": 256, "nll": 2.0, "n": 255},
        {"start": 256, "end": 512, "nll": 3.0, "n": 256},
    ]
    records.append(rec("f1", "yarn@2", "perplexity", 512, "failed"))
    records[-1]["error"] = HOSTILE
    return results_dir(tmp_path, records, samples)


def test_report_writes_every_file(tmp_path: Path):
    d = niah_dir(tmp_path)
    written = {p.name for p in write_report(d)}
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.tex", "report.html"} <= written
    kinds = {name.split("-")[0] for name in written if name.endswith(".png")}
    assert kinds == {"heatmap", "accuracy", "perplexity", "loss_by_position", "rope"}


def test_model_output_is_escaped_in_the_html(tmp_path: Path):
    d = niah_dir(tmp_path)
    write_report(d)
    page = (d / "report.html").read_text()
    assert "<script>document" not in page and "<img src=x" not in page
    assert (
        "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;, &#x27;1&#x27;)&lt;/script&gt;"
        in page
    )
    assert page.count("<script>") == 1  # only the page's own image check


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.skipif(
    find_browser() is None and not os.environ.get("LONGCTX_EVAL_REQUIRE_BROWSER"),
    reason="no headless Chromium installed (Debian: apt-get install chromium)",
)
def test_html_renders_in_a_real_browser_with_every_picture(tmp_path: Path):
    d = niah_dir(tmp_path / "r")
    write_report(d)
    dom = subprocess.run(
        [
            str(find_browser()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            (d / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:500]
    tag = body.group(0)
    assert "data-pwned" not in tag  # the hostile output never ran
    counts = {k: int(v) for k, v in re.findall(r'(data-images(?:-loaded)?)="(\d+)"', tag)}
    assert counts["data-images"] == len(list((d / "plots").glob("*.png"))) >= 5
    assert counts["data-images-loaded"] == counts["data-images"]


# -- merging -----------------------------------------------------------------------------------


def test_compare_merges_directories(tmp_path: Path):
    a = results_dir(tmp_path / "a", [acc("1", "none", 256, 1.0, model="m1")])
    b = results_dir(
        tmp_path / "b", [acc("2", "none", 256, 0.5, model="m2"), acc("1", "none", 256, 1.0, model="m1")]
    )
    compare([a, b], tmp_path / "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "| m1 | none | 1.00" in md and "| m2 | none | 0.50" in md
    assert len((tmp_path / "out" / "records.jsonl").read_text().splitlines()) == 2


def test_compare_refuses_different_task_versions(tmp_path: Path):
    a = results_dir(tmp_path / "a", [acc("1", "none", 256, 1.0)])
    b = results_dir(tmp_path / "b", [acc("2", "none", 256, 1.0, version="2")])
    with pytest.raises(MergeError, match="version 1 and 2"):
        compare([a, b], tmp_path / "out")
    out = CliRunner().invoke(app, ["compare", str(a), str(b), "--output", str(tmp_path / "out2")])
    assert out.exit_code == 2 and "do not compare" in out.output
    assert not (tmp_path / "out2").exists()


def test_compare_refuses_copies_that_disagree(tmp_path: Path):
    a = results_dir(tmp_path / "a", [acc("1", "none", 256, 1.0)])
    b = results_dir(tmp_path / "b", [acc("1", "none", 256, 0.5)])
    with pytest.raises(MergeError, match="different results"):
        compare([a, b], tmp_path / "out")


def test_compare_never_writes_into_an_input(tmp_path: Path):
    a = results_dir(tmp_path / "a", [acc("1", "none", 256, 1.0)])
    with pytest.raises(MergeError, match="one of the inputs"):
        compare([a], a)


def test_backends_are_told_apart(tmp_path: Path):
    r1 = acc("1", "none", 256, 1.0)
    r2 = acc("2", "none", 256, 0.9)
    r2["backend"] = {"kind": "vllm"}
    results = load_results([results_dir(tmp_path, [r1, r2])])
    md = markdown(results, "t", ReportOptions())
    assert "| m [hf] | none | 1.00" in md and "| m [vllm] | none | 0.90" in md


def test_report_cli_options(tmp_path: Path):
    d = results_dir(tmp_path, [acc("1", "none", 256, 0.85)])
    assert CliRunner().invoke(app, ["report", str(d), "--threshold", "0.8", "--no-pictures"]).exit_code == 0
    assert "| m | none | 256 | 256 |" in (d / "leaderboard.md").read_text()
    bad = CliRunner().invoke(app, ["report", str(d), "--threshold", "2"])
    assert bad.exit_code == 2 and "--threshold" in bad.output
    assert json.loads((d / "records.jsonl").read_text())["cell_id"] == "1"
