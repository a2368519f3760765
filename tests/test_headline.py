"""The headline, exact paired significance with Holm's adjustment, simultaneous effective-length
ranges, honest group means and compare's warnings, from hand-made records (and the committed
quickstart's)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from longctx_eval.config import ConfigError, parse_sweep
from longctx_eval.records import CellRecord
from longctx_eval.reporting import ReportOptions, Results, build_summary, compare, load_results, write_report
from longctx_eval.reporting.summary import FORMAT, simultaneous_intervals
from longctx_eval.reporting.tables import markdown
from longctx_eval.stats import (
    clopper_pearson,
    holm,
    mcnemar_exact,
    paired_bootstrap_mean_difference,
    paired_difference_exact,
    wilson_interval,
    z_for,
)
from longctx_eval.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "results" / "examples" / "quickstart"
V1 = ROOT / "tests" / "data" / "quickstart_v1_records.jsonl"
N = 40


def record(cid: str, method: str, task: str, length: int, model: str = "m", **extra: Any) -> dict[str, Any]:
    return {
        "cell_id": cid,
        "model": model,
        "model_path": f"models/{model}",
        "method": method.split("@")[0],
        "method_label": method,
        "original_context": 256,
        "task": task,
        "task_version": "1",
        "length": length,
        "status": "ok",
        "seed": 7,
        "backend": {"kind": "hf", "dtype": "float32", "device": "cpu"},
        **extra,
    }


def retrieval(cid: str, method: str, task: str, length: int, scores: list[float], **kw: Any) -> tuple:
    value = sum(scores) / len(scores)
    low, high = wilson_interval(sum(scores), len(scores))
    r = record(
        cid,
        method,
        task,
        length,
        metrics={"accuracy": value, "n": len(scores), "ci_low": low, "ci_high": high},
        n_samples=len(scores),
        **kw,
    )
    return r, [{"index": i, "target": str(9000 + i), "score": s} for i, s in enumerate(scores)]


def perplexity(cid: str, method: str, length: int, nlls: list[float], tokens: int = 100) -> tuple:
    total = sum(nlls) / (tokens * len(nlls))
    r = record(
        cid,
        method,
        "perplexity",
        length,
        metrics={
            "ppl": math.exp(total),
            "nll": total,
            "n_tokens": tokens * len(nlls),
            "n_documents": len(nlls),
            "ci_low": math.exp(total) * 0.5,
            "ci_high": math.exp(total) * 2,
        },
        n_samples=len(nlls),
    )
    samples = [
        {"index": i, "doc_index": i, "nll_sum": v, "n_scored_tokens": tokens} for i, v in enumerate(nlls)
    ]
    return r, samples


def write(directory: Path, cells: list[tuple]) -> Path:
    store = ResultStore(directory)
    for r, samples in cells:
        store.write_cell(CellRecord.model_validate(r), samples)
    return directory


LENGTHS = [256, 512, 1024, 2048]


def two_methods(tmp_path: Path) -> Results:
    """`yarn@8` retrieves at every length; `none` fails from 2L. Perplexity over 4 documents:
    none's are steady, yarn's from 2L so spread out (100 to 650 nats) that its intervals separate
    nothing, with a point estimate just past the limit (1.5 × none's at L)."""
    cells = []
    steady, noisy = [300.0, 350.0, 320.0, 330.0], [100.0, 650.0, 150.0, 600.0]
    for i, n in enumerate(LENGTHS):
        for method, right in (("yarn@8", N), ("none", N if n == 256 else 0)):
            scores = [1.0] * right + [0.0] * (N - right)
            cells.append(retrieval(f"{method}-p{i}", method, "passkey", n, scores))
        cells.append(perplexity(f"yarn-ppl{i}", "yarn@8", n, steady if n == 256 else noisy))
        cells.append(perplexity(f"none-ppl{i}", "none", n, steady))
    return load_results(write(tmp_path, cells))


# -- exact tests ------------------------------------------------------------------------------


def test_clopper_pearson_and_holm_known_values():
    # R: binom.test(8, 10)$conf.int; binom.test(0, 5)$conf.int
    assert clopper_pearson(8, 10) == pytest.approx((0.4439045, 0.9747893), abs=1e-6)
    assert clopper_pearson(0, 5) == pytest.approx((0.0, 0.5218238), abs=1e-6)
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm")
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6) and z_for(1 - 0.05 / 4) == pytest.approx(
        2.497705, abs=1e-6
    )


def test_the_paired_interval_excludes_zero_exactly_when_exact_mcnemar_rejects():
    for b in range(16):
        for c in range(16 - b):
            low, high = paired_difference_exact(b, c, N)
            assert (low > 0 or high < 0) == (mcnemar_exact(b, c) < 0.05), (b, c)
            assert low <= (b - c) / N <= high


def test_five_of_forty_is_not_marked_six_is_at_the_unadjusted_level_and_holm_is_stated(tmp_path: Path):
    reference = [1.0] * N
    five = [0.0] * 5 + [1.0] * 35
    six = [0.0] * 6 + [1.0] * 34
    cells = [
        retrieval("r", "none", "passkey", 512, reference),
        retrieval("a", "pi@2", "passkey", 512, five),
        retrieval("b", "ntk@2", "passkey", 512, six),
    ]
    summary = build_summary(load_results(write(tmp_path, cells)))
    d = {x.method_label: x for x in summary.paired}
    five_d, six_d = d["pi@2"], d["ntk@2"]
    # The percentile bootstrap calls 5-of-40 significant; the exact test does not.
    boot = paired_bootstrap_mean_difference(five, reference, seed=1)
    assert boot[1] < 0
    assert five_d.p_value == pytest.approx(0.0625) and not five_d.significant and five_d.high >= 0
    assert "*" not in five_d.text()
    assert six_d.p_value == pytest.approx(0.03125) and six_d.high < 0  # unadjusted: below 0.05
    # Holm over the table's two comparisons: 2 × 0.03125 = 0.0625, so no mark after adjustment.
    assert six_d.p_adjusted == pytest.approx(0.0625) and not six_d.significant
    assert "2 comparisons with none on passkey" in (six_d.family or "")
    assert six_d.interval_method.startswith("exact conditional") and six_d.p_method == "exact McNemar"
    md = markdown(summary)
    assert "Holm's adjustment over the comparisons of its table" in md
    # Alone in its table, 6-of-40 is marked.
    alone = build_summary(load_results(write(tmp_path / "alone", cells[:1] + cells[2:])))
    (only,) = alone.paired
    assert only.p_adjusted == pytest.approx(0.03125) and only.significant and only.text().endswith("*")


# -- the headline -----------------------------------------------------------------------------


def test_a_noisy_perplexity_task_does_not_erase_a_decisive_retrieval_separation(tmp_path: Path):
    results = two_methods(tmp_path)
    summary = build_summary(results)
    rows = {r.method_label: r for r in summary.leaderboard}
    good, bad = rows["yarn@8"], rows["none"]
    # yarn's perplexity decides nothing past L: its point estimate fails at 2L, its range runs to 8L...
    noisy = good.effective["perplexity"]
    assert (noisy.effective_length, noisy.effective_high, noisy.status) == (256, 2048, "undecided")
    # ...so the shortest over all tasks (format 1's headline) put both rows at 256, not separable,
    assert good.overall.effective_length == bad.overall.effective_length == 256
    assert (good.overall.effective_low or 0) <= (bad.overall.effective_high or 0)
    # while the retrieval headline ranks them: yarn first, alone.
    assert (good.rank_low, good.rank_high, bad.rank_low, bad.rank_high) == (1, 1, 2, 2)
    assert [r.method_label for r in summary.leaderboard] == ["yarn@8", "none"]
    assert good.headline is not None and good.headline.effective_length == 2048
    assert bad.headline is not None and bad.headline.effective_length == 256
    assert summary.headline.tasks == ("passkey",) and summary.headline.guards == ("perplexity",)
    # Who wins where, in words: yarn leads from 2L to 8L, none is behind.
    passkey = next(s for s in summary.sentences if s.startswith("passkey:"))
    assert "at 2048 (8L) yarn@8 leads (1.00); 1 row is behind" in passkey


def test_ties_are_ranges_and_a_row_tested_on_fewer_tasks_is_never_above(tmp_path: Path):
    cells = []
    for i, n in enumerate(LENGTHS):
        # a and b: the same scores but for one sample: not separable.
        cells.append(retrieval(f"a{i}", "a", "passkey", n, [1.0] * N))
        cells.append(retrieval(f"b{i}", "b", "passkey", n, [1.0] * (N - 1) + [0.0]))
        cells.append(retrieval(f"an{i}", "a", "niah", n, [1.0] * N))
        cells.append(retrieval(f"bn{i}", "b", "niah", n, [1.0] * N))
        # c is perfect on passkey, but was never tested on niah.
        cells.append(retrieval(f"c{i}", "c", "passkey", n, [1.0] * N))
    summary = build_summary(load_results(write(tmp_path, cells)))
    rows = {r.method_label: r for r in summary.leaderboard}
    assert rows["a"].rank_text == rows["b"].rank_text == "1–2"
    assert rows["c"].rank_low == 3 and rows["c"].marks == ["tested on 1 of the headline's 2 tasks"]
    assert [r.method_label for r in summary.leaderboard][-1] == "c"
    assert any("different tasks: m c on fewer than 2" in w for w in summary.warnings)


def test_the_headline_is_configurable_and_checked(tmp_path: Path):
    results = two_methods(tmp_path)
    spec = {"tasks": ["passkey", "perplexity"], "rule": "shortest", "question": "what survives both"}
    summary = build_summary(results, ReportOptions.model_validate({"headline": spec}))
    assert summary.sentences[0].startswith("The headline answers what survives both: the shortest")
    mean = build_summary(
        results, ReportOptions.model_validate({"headline": {"tasks": ["passkey", "perplexity"]}})
    )
    assert mean.headline.tasks == ("passkey",)
    assert any("cannot hold perplexity: perplexity left out" in w for w in mean.warnings)
    with pytest.raises(ValueError, match="weights name tasks outside"):
        ReportOptions.model_validate({"headline": {"tasks": ["passkey"], "weights": {"niah": 2}}})
    with pytest.raises(ValueError, match="extra"):
        ReportOptions.model_validate({"headline": {"taks": ["passkey"]}})
    raw = {
        "name": "s",
        "models": [{"name": "ref", "path": str(ROOT / "models" / "reference")}],
        "methods": ["none"],
        "lengths": [256],
        "tasks": ["passkey"],
        "headline": {"tasks": ["passkey", "nope"]},
    }
    with pytest.raises(ConfigError) as err:
        parse_sweep(raw)
    assert ("headline.tasks.1", "unknown task 'nope' (valid: passkey)") in err.value.problems
    good = parse_sweep({**raw, "headline": {"tasks": ["passkey"], "weights": {"passkey": 2}}})
    assert good.headline is not None and good.headline.weights == {"passkey": 2}
    assert good.model_dump(mode="json")["headline"]["tasks"] == ["passkey"]  # what the manifest keeps


def test_the_sweeps_headline_is_read_from_its_manifest(tmp_path: Path):
    d = tmp_path / "r"
    two_methods(d)
    manifest = {"config": {"headline": {"tasks": ["passkey"], "question": "how far passkeys reach"}}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    write_report(d, pictures=False)
    board = json.loads((d / "leaderboard.json").read_text())
    assert board["headline"]["question"] == "how far passkeys reach"
    assert (
        (d / "leaderboard.md")
        .read_text()
        .split("\n")[2]
        .startswith("The headline answers how far passkeys reach")
    )


# -- intervals ---------------------------------------------------------------------------------


def test_effective_length_ranges_are_simultaneous_over_the_lengths(tmp_path: Path):
    results = two_methods(tmp_path)
    summary = build_summary(results)
    good = next(r for r in summary.leaderboard if r.method_label == "yarn@8")
    e = good.effective["passkey"]
    assert "simultaneous over 4 lengths (Bonferroni, each at 0.9875)" in (e.interval_method or "")
    # 40 of 40 at each of 4 lengths: Wilson at z = 2.4977 gives 40 / (40 + z²) = 0.865 < 0.9, so no
    # length certainly passes all at once (at a single length, 0.912 would have).
    z = 2.497705
    assert N / (N + z * z) < 0.9 < wilson_interval(N, N)[0]
    assert (e.effective_length, e.effective_low, e.effective_high) == (2048, None, 2048)
    series = next(s for s in _series(results, "passkey") if s.method_label == "yarn@8")
    intervals, _ = simultaneous_intervals(results, series, None, _rule(series))
    assert intervals[256] == pytest.approx((N / (N + z * z), 1.0), abs=1e-5)


def _series(results: Results, task: str) -> list:
    from longctx_eval.reporting.series import arrange

    return arrange(results).series[task]


def _rule(series: Any) -> Any:
    from longctx_eval.reporting.effective import rule_for

    return rule_for(series, None, ReportOptions())


def test_a_group_of_all_right_or_all_wrong_members_gets_a_real_interval(tmp_path: Path):
    cells = []
    for i in range(5):
        scores = [1.0] * 5 if i == 0 else [0.0] * 5
        cells.append(retrieval(f"g{i}", "none", f"member{i}", 256, scores, task_group="ruler"))
    summary = build_summary(load_results(write(tmp_path, cells)))
    table = next(t for t in summary.tables if t.task == "ruler")
    (cell,) = table.rows[0].values
    assert cell is not None and cell.value == pytest.approx(0.2)
    assert cell.low is not None and cell.high is not None
    # MOVER over the members' Wilson intervals, computed independently here.
    members = [wilson_interval(5, 5)] + [wilson_interval(0, 5)] * 4
    down = math.sqrt((1 - members[0][0]) ** 2) / 5
    up = math.sqrt(4 * members[1][1] ** 2) / 5
    assert (cell.low, cell.high) == pytest.approx((0.2 - down, 0.2 + up))
    assert cell.high - cell.low > 0.2
    assert "MOVER" in (cell.interval_method or "")


# -- compare's warnings -------------------------------------------------------------------------


def test_compare_warns_when_two_names_hold_the_same_weights(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    a = write(tmp_path / "a", [retrieval("x", "none", "passkey", 256, [1.0] * 10, model="ref", seed=1)])
    b = write(tmp_path / "b", [retrieval("y", "none", "passkey", 256, [1.0] * 10, model="reference", seed=2)])
    for d, name in ((a, "ref"), (b, "reference")):  # two runs of models/reference under two names
        lines = (d / "records.jsonl").read_text().splitlines()
        fixed = [
            {**json.loads(x), "model_fingerprint": "abc123", "model_path": "models/reference"} for x in lines
        ]
        (d / "records.jsonl").write_text("".join(json.dumps(x) + "\n" for x in fixed))
        assert json.loads(lines[0])["model"] == name
    with caplog.at_level("WARNING", logger="longctx_eval.report"):
        compare([a, b], tmp_path / "out")
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "Warning: model names ref, reference hold the same weights (content fingerprint)" in text
    assert "passkey: rows ran with different seeds at the same length" in text
    assert any("ref, reference" in r.getMessage() for r in caplog.records)


def test_cells_under_different_runtimes_are_named(tmp_path: Path):
    r1 = retrieval("x", "none", "passkey", 256, [1.0] * 10)
    r2 = retrieval("y", "yarn@2", "passkey", 256, [1.0] * 10)
    r2[0]["backend"] = {"kind": "hf", "dtype": "bfloat16", "device": "cuda", "transformers": "5.19.0"}
    summary = build_summary(load_results(write(tmp_path, [r1, r2])))
    (warning,) = [w for w in summary.warnings if "runtime" in w or "ran under" in w]
    assert "dtype bfloat16 / float32" in warning and "device cpu / cuda" in warning


def test_records_carry_the_model_fingerprint():
    assert "model_fingerprint" in CellRecord.model_fields
    old = CellRecord.model_validate(json.loads(V1.read_text().splitlines()[0]) | {"schema_version": 2})
    assert old.model_fingerprint is None  # written before it was kept: still loads


# -- the committed quickstart -------------------------------------------------------------------


def test_on_the_quickstart_longrope_and_yarn_are_ahead_of_pi_at_8l(tmp_path: Path):
    shutil.copytree(EXAMPLE, tmp_path / "q", ignore=shutil.ignore_patterns("plots", "leaderboard.*"))
    summary = build_summary(load_results(tmp_path / "q"))
    rows = {r.method_label: r for r in summary.leaderboard}
    for winner in ("longrope@8", "yarn@auto"):
        assert rows[winner].rank_high < rows["pi@auto"].rank_low
    assert len({r.rank_text for r in summary.leaderboard}) > 1  # not every row rank 1
    # No row is placed above one that a significant headline comparison puts ahead of it.
    position = {f"{r.model} {r.method_label}": i for i, r in enumerate(summary.leaderboard)}
    wins = set()
    for d in summary.headline_comparisons:
        if d.significant:
            a, b = f"{d.model} {d.method_label}", d.against
            wins.add((a, b) if d.estimate > 0 else (b, a))
    assert wins  # the data do separate rows here
    for winner, loser in wins:
        if (loser, winner) not in wins:
            assert position[winner] < position[loser], (winner, loser)
    eight = [s for s in summary.sentences if s.startswith(("passkey:", "niah:"))]
    assert all(
        "at 2048 (8L) longrope@8 leads" in s and "yarn@auto" in s.split("at 2048 (8L)")[1] for s in eight
    )
    board = json.loads(summary.model_dump_json())
    assert board["format"] == FORMAT == "longctx-eval/leaderboard/v2"
    assert board["headline"]["tasks"] == ["passkey", "niah"] and board["sentences"] == summary.sentences
    d = board["paired"][0]
    assert {"p_value", "p_adjusted", "interval_method", "p_method", "family"} <= d.keys()
    assert board["tables"][0]["rows"][0]["values"][0]["interval_method"] == "Wilson score"


def test_the_first_records_format_still_reports(tmp_path: Path):
    (tmp_path / "records.jsonl").write_bytes(V1.read_bytes())
    summary = build_summary(load_results(tmp_path))
    assert summary.format == FORMAT and summary.sentences and summary.leaderboard[0].headline is not None


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="no headless Chromium (apt-get install chromium)"
)
def test_the_page_opens_with_the_sentences_in_a_real_browser(tmp_path: Path):
    from .test_report import browser_dom

    d = tmp_path / "r"
    two_methods(d)
    write_report(d, pictures=True)
    dom = browser_dom(d / "report.html", tmp_path / "profile")
    summary = json.loads((d / "leaderboard.json").read_text())
    first = summary["sentences"][0]
    assert '<section class="headline">' in dom and first in dom
    assert dom.index('<section class="headline">') < dom.index("Effective context length")
    assert "yarn@8 leads (1.00)" in dom.split("Effective context length")[0]
