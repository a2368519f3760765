"""Work outside the model grows linearly: reports on many records, planning on many models.

The report test is a ratio measured within one run (20k records against 1k), never an absolute
time: a report whose cost grew with the square of the records (as it once did, through a scan of
every record for every record) takes hundreds of times longer on 20× the records.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from longctx_eval.store import dumps

METHODS = ["none", "pi@2", "ntk@2", "yarn@4", "dynamic_ntk@4"]


def synthetic_results(directory: Path, models: int, lengths: int) -> int:
    """A results directory of models × 5 methods × `lengths` lengths × 2 tasks (passkey-like
    accuracy with 8 samples, perplexity with 4 documents), records and samples written directly."""
    rng = random.Random(f"{models}-{lengths}")
    (directory / "samples").mkdir(parents=True)
    lines = []
    for m in range(models):
        for label in METHODS:
            for k in range(lengths):
                length = 256 + 64 * k
                for task in ("passkey", "perplexity"):
                    key = f"{m}|{label}|{task}|{length}"
                    cid = hashlib.sha256(key.encode()).hexdigest()[:16]
                    if task == "passkey":
                        scores = [float(rng.random() < 0.9 - 0.1 * k / lengths) for _ in range(8)]
                        metrics: dict[str, Any] = {"accuracy": sum(scores) / 8, "n": 8, "ci_low": 0.5}
                        metrics["ci_high"] = 1.0
                        samples = [
                            {"index": i, "score": s, "target": str(i), "depth_requested": i / 8}
                            for i, s in enumerate(scores)
                        ]
                    else:
                        nll = [rng.uniform(500, 700) for _ in range(4)]
                        ppl = float(sum(nll) / (4 * 255))
                        metrics = {"ppl": ppl, "nll": ppl, "n_documents": 4, "ci_low": ppl, "ci_high": ppl}
                        samples = [
                            {"index": i, "doc_index": i, "nll_sum": x, "n_scored_tokens": 255}
                            for i, x in enumerate(nll)
                        ]
                    record = {
                        "cell_id": cid,
                        "model": f"model-{m}",
                        "method": label.split("@")[0],
                        "method_label": label,
                        "task": task,
                        "task_name": task,
                        "length": length,
                        "original_context": 256,
                        "status": "ok",
                        "metrics": metrics,
                        "n_samples": len(samples),
                    }
                    lines.append(dumps(record) + "\n")
                    text = "".join(dumps(s) + "\n" for s in samples)
                    (directory / "samples" / f"{cid}.jsonl").write_text(text)
    (directory / "records.jsonl").write_text("".join(lines))
    return len(lines)


def report_seconds(directory: Path) -> float:
    from longctx_eval.reporting import write_report

    t0 = time.perf_counter()
    write_report(directory, pictures=False)
    return time.perf_counter() - t0


@pytest.mark.slow
def test_report_time_grows_linearly_with_records(tmp_path: Path):
    small, large = tmp_path / "small", tmp_path / "large"
    # More models and more lengths (leaderboard rows and table columns grow too); every model is
    # paired with the first, so enough models that this share hardly changes (9/10 → 49/50).
    n_small = synthetic_results(small, models=10, lengths=10)  # 1,000 records
    n_large = synthetic_results(large, models=50, lengths=40)  # 20,000 records
    assert (n_small, n_large) == (1000, 20000)
    report_seconds(small)  # warm-up: imports, first-use costs
    # Interleaved, the shortest of two each: load from other processes falls on both sides.
    times: dict[Path, list[float]] = {small: [], large: []}
    for _ in range(2):
        for d in (small, large):
            times[d].append(report_seconds(d))
    t_small, t_large = min(times[small]), min(times[large])
    ratio = t_large / t_small
    assert ratio < 25, f"20× the records took {ratio:.1f}× the time ({t_large:.1f} s vs {t_small:.2f} s)"


def test_niah_minimum_length_is_computed_once_per_tokenizer(
    tokenizer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Planning asks NIAH's minimum length of every model (about 8,000 tokenizer calls each): it
    is worked out once per tokenizer, kept for the process and in the cache directory."""
    import longctx_eval_tasks.niah as niah

    from longctx_eval.identity import JsonCache
    from longctx_eval.prompts import PromptFormat

    monkeypatch.setenv("LONGCTX_EVAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(JsonCache, "_instances", {})
    calls = []
    counted = niah.fixed_tokens
    monkeypatch.setattr(niah, "fixed_tokens", lambda *a: calls.append(1) or counted(*a))
    params = niah.NiahParams()
    first = niah.niah_min_length(params, PromptFormat(tokenizer))
    computed = len(calls)
    assert computed > 1000  # every key was tried
    assert niah.niah_min_length(params, PromptFormat(tokenizer)) == first  # another model, same tokenizer
    monkeypatch.setattr(JsonCache, "_instances", {})  # a new process: from the cache directory
    assert niah.niah_min_length(params, PromptFormat(tokenizer)) == first
    assert len(calls) == computed
    assert json.loads((tmp_path / "niah-min-length.json").read_text()) == {
        niah._min_length_key(params, PromptFormat(tokenizer)): first
    }
    # Other fixed text is another minimum, computed anew.
    longer = niah.NiahParams(question="Which is the special magic number for {key} in the long text above?")
    assert niah.niah_min_length(longer, PromptFormat(tokenizer)) > first
    assert len(calls) > computed
