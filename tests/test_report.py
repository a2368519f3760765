"""Reports from hand-made records: tables, intervals, effective length, escaping, merging, and the
HTML page rendered in a real (headless) browser."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.records import CellRecord, RopeFrequencies
from longctx_eval.reporting import (
    MergeError,
    ReportOptions,
    Results,
    build_summary,
    compare,
    load_results,
    write_report,
)
from longctx_eval.reporting.effective import Effective
from longctx_eval.reporting.tables import csv_text, latex, markdown
from longctx_eval.stats import (
    bootstrap_perplexity,
    mcnemar_exact,
    paired_bootstrap_mean_difference,
    wilson_interval,
)
from longctx_eval.store import ResultStore

# The quickstart's records as the first format wrote them (frequencies inline, no schema_version).
V1 = Path(__file__).resolve().parent / "data" / "quickstart_v1_records.jsonl"


def rec(
    cid: str,
    method: str,
    task: str,
    length: int,
    status: str = "ok",
    model: str = "m",
    version: str = "1",
    original_context: int = 256,
    **metrics: Any,
) -> dict[str, Any]:
    return {
        "cell_id": cid,
        "model": model,
        "method": method.split("@")[0],
        "method_label": method,
        "factor": 1.0,
        "factor_mode": "fixed",
        "original_context": original_context,
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
        n_documents=4,
        ci_low=value * 0.9,
        ci_high=value * 1.1,
        **kw,
    )


def results_dir(
    tmp_path: Path, records: list[dict[str, Any]], samples: dict[str, list[dict[str, Any]]] | None = None
) -> Path:
    store = ResultStore(tmp_path)
    for r in records:
        store.write_cell(CellRecord.model_validate(r), (samples or {}).get(r["cell_id"]))
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


# -- effective length ------------------------------------------------------------------------


def effective(results: Results, task: str, options: ReportOptions | None = None) -> dict[str, Effective]:
    row = {r.method_label: r for r in build_summary(results, options or ReportOptions()).leaderboard}
    return {label: r.effective[task] for label, r in row.items() if task in r.effective}


def test_effective_length_is_where_the_score_stops_passing(tmp_path: Path):
    results = load_results(
        results_dir(
            tmp_path,
            [
                acc("1", "none", 256, 1.0, n=100),
                acc("2", "none", 512, 0.98, n=100),
                acc("3", "none", 1024, 0.5, n=100),
                acc("4", "none", 2048, 1.0, n=100),
                acc("5", "yarn@2", 256, 1.0),
                rec("6", "yarn@2", "passkey", 512, "failed"),
                acc("7", "yarn@2", 1024, 1.0),
                acc("8", "pi@2", 256, 0.8),
                acc("9", "pi@2", 512, 1.0),
            ],
        )
    )
    e = effective(results, "passkey")
    # none: 2048 passes again, but 1024 broke the run; every interval is decisive at n = 100.
    assert (e["none"].effective_length, e["none"].effective_low, e["none"].effective_high) == (512, 512, 512)
    assert e["none"].status == "ok" and e["none"].text() == "512"
    # yarn: a failed cell does not pass, and it decides nothing (the range runs on to 1024).
    assert (e["yarn@2"].effective_length, e["yarn@2"].effective_high) == (256, 1024)
    assert e["yarn@2"].status == "undecided" and e["yarn@2"].text() == "256 (< 256–1024)"
    # pi: fails at the native length (n = 10: 0.8 could still be 0.9, so the range reaches 512).
    assert e["pi@2"].effective_length is None and e["pi@2"].status == "fails_at_native"
    assert effective(results, "passkey", ReportOptions(threshold=0.8))["pi@2"].effective_length == 512


def test_the_quickstart_case_is_undecided_not_a_ranking(tmp_path: Path):
    # The committed quickstart: yarn's perplexity at 1024 is 47.5 against a limit of 1.5 × 31.6 =
    # 47.4, inside a ±17 interval, while llama3's 45.4 passes. The point estimates differ (512 and
    # 1024 overall); the intervals cannot tell the two apart.
    (tmp_path / "records.jsonl").write_bytes(V1.read_bytes())
    results = load_results(tmp_path)
    rows = {r.method_label: r for r in build_summary(results).leaderboard}
    yarn, llama3 = rows["yarn@auto"], rows["llama3@auto"]
    assert yarn.effective["perplexity"].effective_length == 512
    assert llama3.effective["perplexity"].effective_length == 1024
    assert yarn.effective["perplexity"].status == "undecided" == llama3.overall.status
    assert yarn.rank == llama3.rank
    assert "47.4" in yarn.effective["perplexity"].rule and "none@256" in yarn.effective["perplexity"].rule


def test_a_method_run_only_at_long_lengths_is_not_shown_below_the_table_shortest(tmp_path: Path):
    results = load_results(
        results_dir(
            tmp_path,
            [
                acc("1", "none", 256, 1.0, n=100),
                acc("2", "none", 512, 1.0, n=100),
                acc("3", "yarn@16", 4096, 0.0, n=100),
            ],
        )
    )
    e = effective(results, "passkey")["yarn@16"]
    assert e.effective_length is None and e.status == "ok" and e.text() == "< 4096"
    assert "256" not in e.text()


def test_a_relative_rule_without_its_baseline_says_so(tmp_path: Path):
    d = results_dir(
        tmp_path, [acc("1", "yarn@2", 256, 1.0), acc("2", "yarn@2", 512, 0.9), ppl("3", "yarn@2", 256, 10.0)]
    )
    summary = build_summary(load_results(d), ReportOptions(relative=0.85))
    row = summary.leaderboard[0]
    assert (
        row.effective["passkey"].status == "no_baseline"
        and row.effective["perplexity"].status == "no_baseline"
    )
    assert row.effective["passkey"].text() == "no baseline" and row.overall.status == "no_baseline"
    assert "a baseline the results do not have" in row.effective["passkey"].rule
    # An absolute accuracy rule needs no baseline.
    assert build_summary(load_results(d)).leaderboard[0].effective["passkey"].effective_length == 512


def test_relative_rule_uses_the_reference_methods_native_value(tmp_path: Path):
    d = results_dir(
        tmp_path,
        [
            acc("1", "none", 256, 0.8, n=200),
            acc("2", "yarn@2", 256, 0.8, n=200),
            acc("3", "yarn@2", 512, 0.7, n=200),
        ],
    )
    e = effective(load_results(d), "passkey", ReportOptions(relative=0.85))["yarn@2"]
    assert e.effective_length == 512 and "none@256 (0.8) = 0.68" in e.rule


def test_rulers_published_llama31_averages_give_32k():
    # RULER's README, Llama-3.1-8B: 95.5, 93.8, 91.6, 87.4, 84.7, 77.0 at 4K..128K, effective 32K
    # under its rule "score above 85.6" (no intervals published: the range stays open).
    lengths = [4096, 8192, 16384, 32768, 65536, 131072]
    scores = [95.5, 93.8, 91.6, 87.4, 84.7, 77.0]
    records = [
        CellRecord.model_validate(
            {**rec(str(i), "none", "ruler", n, original_context=131072), "metrics": {"accuracy": v / 100}}
        )
        for i, (n, v) in enumerate(zip(lengths, scores, strict=True))
    ]
    row = build_summary(Results(records), ReportOptions(threshold=0.856)).leaderboard[0]
    assert row.effective["ruler"].effective_length == 32768


def test_perplexity_effective_length_uses_the_native_value(tmp_path: Path):
    results = load_results(
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
    )
    # native value: none at 256 (= L) is 10 → limit 15 with the default 1.5×
    e = effective(results, "perplexity")
    assert e["none"].effective_length == 512 and e["yarn@4"].effective_length == 512
    assert "ppl ≤ 1.5× none@256 (10) = 15" in e["yarn@4"].rule
    assert (
        effective(results, "perplexity", ReportOptions(ppl_multiple=1.6))["yarn@4"].effective_length == 1024
    )


def test_leaderboard_is_sorted_by_effective_length(tmp_path: Path):
    results = load_results(
        results_dir(
            tmp_path,
            [
                acc("1", "none", 256, 1.0, n=100),
                acc("2", "none", 512, 0.0, n=100),
                acc("3", "yarn@2", 256, 1.0, n=100),
                acc("4", "yarn@2", 512, 1.0, n=100),
            ],
        )
    )
    summary = build_summary(results, ReportOptions(), "t")
    assert [(r.method_label, r.rank) for r in summary.leaderboard] == [("yarn@2", 1), ("none", 2)]
    md = markdown(summary)
    assert md.index("| m | yarn@2 | 1 | 512 | 512 |") < md.index("| m | none | 2 | 256 | 256 |")


# -- paired comparisons -------------------------------------------------------------------------


def test_mcnemar_exact_p_values_equal_the_binomial_tail():
    from fractions import Fraction

    def independent(b: int, c: int) -> float:  # two-sided exact binomial test at p = 1/2, by hand
        n, k = b + c, min(b, c)
        tail = sum(
            Fraction(math.factorial(n), math.factorial(i) * math.factorial(n - i)) for i in range(k + 1)
        )
        return float(min(Fraction(1), 2 * tail / 2**n))

    for b, c in [(10, 2), (2, 10), (5, 5), (0, 7), (13, 1), (0, 0)]:
        assert mcnemar_exact(b, c) == pytest.approx(independent(b, c) if b + c else 1.0, rel=1e-12)
    assert mcnemar_exact(10, 2) == pytest.approx(0.0385742, abs=1e-6)  # R: binom.test(2, 12)$p.value


def test_paired_bootstrap_on_known_cases():
    # Every pair differs by exactly +1: no spread at all.
    assert paired_bootstrap_mean_difference([1.0] * 30, [0.0] * 30, seed=1) == (1.0, 1.0)
    # Pairs that agree on most samples: the paired interval is far tighter than the unpaired one.
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.7).astype(float)
    b = a.copy()
    b[:10] = 1 - b[:10]
    low, high = paired_bootstrap_mean_difference(a, b, seed=3)
    diffs = a - b
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))  # the normal approximation of the same interval
    assert low == pytest.approx(diffs.mean() - 1.96 * se, abs=0.01)
    assert high == pytest.approx(diffs.mean() + 1.96 * se, abs=0.01)
    assert paired_bootstrap_mean_difference(a, b, seed=3) == (low, high)  # seeded


def scored(
    cid: str, method: str, length: int, scores: list[float]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r = acc(cid, method, length, sum(scores) / len(scores), n=len(scores))
    return r, [{"index": i, "target": str(1000 + i), "score": s} for i, s in enumerate(scores)]


def test_paired_differences_against_the_reference_method(tmp_path: Path):
    none_scores = [1.0] * 12 + [0.0] * 8
    yarn_scores = [1.0] * 12 + [1.0] * 7 + [0.0]  # right on 7 of none's 8 misses, wrong on none of its hits
    ntk_scores = [0.0] * 12 + [1.0] * 8  # the reverse pattern, same mean
    records, samples = [], {}
    for cid, method, scores in [
        ("a", "none", none_scores),
        ("b", "yarn@2", yarn_scores),
        ("c", "ntk@2", ntk_scores),
    ]:
        r, s = scored(cid, method, 512, scores)
        records.append(r)
        samples[cid] = s
    summary = build_summary(load_results(results_dir(tmp_path, records, samples)))
    diffs = {d.method_label: d for d in summary.paired}
    yarn = diffs["yarn@2"]
    assert yarn.estimate == pytest.approx(0.35) and yarn.n_pairs == 20
    assert yarn.p_value == pytest.approx(mcnemar_exact(7, 0)) and yarn.excludes_null
    assert diffs["ntk@2"].estimate == pytest.approx(-0.2) and diffs["ntk@2"].p_value == pytest.approx(
        mcnemar_exact(8, 12)
    )
    assert "## Paired differences against none" in markdown(summary)


def test_samples_that_are_not_the_same_are_never_paired(tmp_path: Path):
    r1, s1 = scored("a", "none", 512, [1.0, 0.0, 1.0])
    r2, s2 = scored("b", "yarn@2", 512, [1.0, 1.0, 1.0])
    s2[1]["target"] = "other"
    summary = build_summary(load_results(results_dir(tmp_path, [r1, r2], {"a": s1, "b": s2})))
    assert summary.paired == []


def test_paired_perplexity_ratio_over_the_same_documents(tmp_path: Path):
    def docs(nll: list[float]) -> list[dict[str, Any]]:
        return [{"index": i, "doc_index": i, "nll_sum": v, "n_scored_tokens": 100} for i, v in enumerate(nll)]

    base, better = [300.0, 250.0, 400.0, 350.0], [290.0, 240.0, 390.0, 335.0]
    records = [ppl("a", "none", 512, 1.0), ppl("b", "yarn@2", 512, 1.0)]
    summary = build_summary(
        load_results(results_dir(tmp_path, records, {"a": docs(base), "b": docs(better)}))
    )
    (d,) = summary.paired
    assert d.kind == "ratio" and d.estimate == pytest.approx(math.exp((sum(better) - sum(base)) / 400))
    assert d.high is not None and d.high < 1 and d.excludes_null  # every document is better: certain


# -- tables ------------------------------------------------------------------------------------


def test_tables_show_intervals_and_mark_failures(tmp_path: Path):
    records = [
        acc("1", "none", 256, 0.8),
        rec("2", "none", "passkey", 512, "failed"),
        rec("3", "pi@2", "passkey", 256, "skipped"),
    ]
    results = load_results(results_dir(tmp_path, records))
    summary = build_summary(results, ReportOptions(), "t")
    md = markdown(summary)
    assert "| m | none | 0.80 [0.49, 0.94] | fail |" in md and "| m | pi@2 | skip |" in md
    tex = latex(summary)
    assert r"0.80 [0.49, 0.94]" in tex and r"\toprule" in tex
    rows = list(csv.DictReader(io.StringIO(csv_text(results))))
    assert len(rows) == 3 and rows[0]["accuracy"] == "0.8" and rows[0]["backend"] == "hf"


def test_one_document_has_no_interval(tmp_path: Path):
    r = ppl("1", "none", 256, 10.0)
    r["metrics"].update(n_documents=1, ci_low=10.0, ci_high=10.0)
    md = markdown(build_summary(load_results(results_dir(tmp_path, [r]))))
    assert "10 (n = 1, no interval)" in md and "±0" not in md


def test_latest_record_of_a_cell_wins(tmp_path: Path):
    results = load_results(
        results_dir(tmp_path, [rec("1", "none", "passkey", 256, "failed"), acc("1", "none", 256, 1.0)])
    )
    assert [r.status for r in results.records] == ["ok"]


def test_length_dependent_methods_say_how_they_generated(tmp_path: Path):
    r = acc("1", "dynamic_ntk@2", 256, 1.0)
    r["generation_policy"] = "prompt"
    v = acc("2", "dynamic_ntk@2", 512, 1.0)
    v["generation_policy"] = "static"
    md = markdown(build_summary(load_results(results_dir(tmp_path, [r, v]))))
    assert "prompt: frequencies chosen once for the prompt's length" in md
    assert "static: vLLM: one static scale" in md


# -- pictures and html -------------------------------------------------------------------------

# If this ever executes, the dumped DOM carries data-pwned (checked in the browser test).
HOSTILE = (
    "<script>document.body.setAttribute('data-pwned', '1')</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', '2')\">"
)


ROPE = RopeFrequencies(inv_freq=[1.0, 0.1, 0.01], base_inv_freq=[1.0, 0.1, 0.01])


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
        r["rope_key"] = ROPE.key()
        records.append(r)
    records += [ppl("p1", "none", 256, 10.0), ppl("p2", "none", 512, 30.0)]
    records[-1]["metrics"]["loss_by_position"] = [
        {"start": 0, "end": 256, "nll": 2.0, "n": 255},
        {"start": 256, "end": 512, "nll": 3.0, "n": 256},
    ]
    records.append(rec("f1", "yarn@2", "perplexity", 512, "failed"))
    records[-1]["error"] = HOSTILE
    d = results_dir(tmp_path, records, samples)
    (d / "rope").mkdir()
    (d / "rope" / f"{ROPE.key()}.json").write_text(ROPE.model_dump_json())
    return d


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


def browser_dom(page: Path | str, profile: Path) -> str:
    """The page's DOM after load; `page` a file, or an address (with a query string)."""
    return subprocess.run(
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
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri() if isinstance(page, Path) else page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def body_tag(dom: str) -> str:
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:500]
    return body.group(0)


def image_counts(tag: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'(data-images(?:-loaded)?)="(\d+)"', tag)}


NEEDS_BROWSER = pytest.mark.skipif(
    find_browser() is None and not os.environ.get("LONGCTX_EVAL_REQUIRE_BROWSER"),
    reason="no headless Chromium installed (Debian: apt-get install chromium)",
)


@NEEDS_BROWSER
def test_html_renders_in_a_real_browser_with_every_picture(tmp_path: Path):
    d = niah_dir(tmp_path / "r")
    write_report(d)
    tag = body_tag(browser_dom(d / "report.html", tmp_path / "profile"))
    assert "data-pwned" not in tag  # the hostile output never ran
    counts = image_counts(tag)
    assert counts["data-images"] == len(list((d / "plots").glob("*.png"))) >= 5
    assert counts["data-images-loaded"] == counts["data-images"]


@NEEDS_BROWSER
@pytest.mark.slow
def test_a_real_sweeps_page_shows_the_usage_section_and_relative_perplexity(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    import longctx_eval as lce

    from .conftest import sweep_dict

    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "yarn", "factors": [2]}],
        lengths=[128, 256],
        tasks=[
            {"task": "passkey", "samples": 2},
            {"task": "perplexity", "dataset": str(docs_file), "documents": 3},
            {"task": "analysis", "dataset": str(docs_file), "documents": 1},
        ],
    )
    out = tmp_path / "out"
    lce.run(data, output=out, progress="none")
    names = {p.name.split("-")[0] for p in (out / "plots").glob("*.png")}
    assert {"perplexity_relative", "usage"} <= names
    page = (out / "report.html").read_text()
    assert "<summary>Frequency usage</summary>" in page and "relative to none" in page
    tag = body_tag(browser_dom(out / "report.html", tmp_path / "profile"))
    counts = image_counts(tag)
    assert counts["data-images"] == len(list((out / "plots").glob("*.png"))) >= 8
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
    md = markdown(build_summary(results))
    assert "| m [hf] | none | 1.00" in md and "| m [vllm] | none | 0.90" in md


def test_report_cli_options(tmp_path: Path):
    d = results_dir(tmp_path, [acc("1", "none", 256, 0.85)])
    assert CliRunner().invoke(app, ["report", str(d), "--threshold", "0.8", "--no-pictures"]).exit_code == 0
    assert "| m | none | 1 | 256 (< 256–256) | 256 (< 256–256) |" in (d / "leaderboard.md").read_text()
    bad = CliRunner().invoke(app, ["report", str(d), "--threshold", "2"])
    assert bad.exit_code == 2 and "--threshold" in bad.output
    assert json.loads((d / "records.jsonl").read_text())["cell_id"] == "1"


def test_compare_pairs_the_same_method_across_models(tmp_path: Path):
    r1, s1 = scored("a", "yarn@2", 512, [1.0] * 10 + [0.0] * 10)
    r2, s2 = scored("b", "yarn@2", 512, [1.0] * 18 + [0.0] * 2)
    r1["model"], r2["model"] = "base", "tuned"
    a = results_dir(tmp_path / "a", [r1], {"a": s1})
    b = results_dir(tmp_path / "b", [r2], {"b": s2})
    compare([a, b], tmp_path / "out")
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    (d,) = board["paired_across"]
    assert d["model"] == "tuned" and d["against"] == "base yarn@2" and d["estimate"] == pytest.approx(0.4)
    assert d["p_value"] == pytest.approx(mcnemar_exact(8, 0))
    assert (
        "## Paired differences against base (same method, same samples)"
        in (tmp_path / "out" / "leaderboard.md").read_text()
    )
