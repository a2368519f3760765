"""The Python API a notebook uses: a sweep from a dict, typed results, a pandas frame."""

from __future__ import annotations

from pathlib import Path

import pytest

import longctx_eval as lce

from .conftest import sweep_dict

# The quickstart's records as the first format wrote them (frequencies inline, no schema_version).
V1 = Path(__file__).resolve().parent / "data" / "quickstart_v1_records.jsonl"


@pytest.mark.slow
def test_a_notebook_runs_a_sweep_from_a_dict_and_gets_a_frame(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(
        tiny_model_dir, tasks=[{"task": "passkey", "samples": 3}, {"task": "niah", "depths": 2}]
    )
    summary = lce.run(data, output=tmp_path / "out", progress="none")
    assert summary.counts == {"ok": 8, "failed": 0, "skipped": 0} and summary.out_dir == tmp_path / "out"
    assert (tmp_path / "out" / "leaderboard.json").exists()

    results = lce.load_results(tmp_path / "out")
    frame = results.to_pandas()
    assert len(frame) == len(results.records) == 8
    for r in results.records:
        (row,) = frame[frame.cell_id == r.cell_id].to_dict("records")
        assert (row["model"], row["method_label"], row["task"], row["length"]) == (
            r.model,
            r.method_label,
            r.task,
            r.length,
        )
        assert row["accuracy"] == r.metrics.accuracy and row["n"] == r.metrics.n
    samples = results.to_pandas(samples=True)
    assert len(samples) == sum(r.n_samples for r in results.records)
    first = results.records[0]
    mine = samples[samples.cell_id == first.cell_id].sort_values("sample_index")
    assert list(mine.sample_score) == [s.score for s in results.samples(first)]

    again = lce.run(data, output=tmp_path / "out", progress="none")  # resumes: nothing left to do
    assert again.already_done == 8 and sum(again.counts.values()) == 0


def test_bad_input_raises_config_error_with_every_problem(tiny_model_dir: Path):
    data = sweep_dict(tiny_model_dir, lengths=[0], methods=["yarnn"])
    with pytest.raises(lce.ConfigError) as err:
        lce.validate(data)
    fields = [loc for loc, _ in err.value.problems]
    assert "methods.0.method" in fields and "lengths.0" in fields


def test_validate_returns_the_plan(tiny_model_dir: Path):
    plan = lce.validate(sweep_dict(tiny_model_dir))
    assert len(plan.cells) == 4 and "4 cells" in plan.describe()


def test_load_results_reads_the_committed_example_of_the_first_format(tmp_path: Path):
    (tmp_path / "records.jsonl").write_bytes(V1.read_bytes())
    results = lce.load_results(tmp_path)
    assert len(results.records) == 84 and all(r.schema_version == 2 for r in results.records)
    assert {r.task for r in results.records} == {"passkey", "niah", "perplexity"}
    assert results.rope(results.records[0]) is not None  # frequencies moved out of the records
    frame = results.to_pandas()
    assert frame.groupby("task").size().to_dict() == {"niah": 28, "passkey": 28, "perplexity": 28}


def test_rope_table_and_report_options_from_python(tmp_path: Path):
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=256, num_attention_heads=4, max_position_embeddings=512).save_pretrained(tmp_path)
    table = lce.rope_table(str(tmp_path), "yarn", 4.0)
    assert table.label == "yarn@4" and table.target_length == 2048 and len(table.pairs) == 32
    with pytest.raises(lce.ConfigError, match="factor"):
        lce.rope_table(str(tmp_path), "yarn")  # a method with a factor needs one
    with pytest.raises(lce.ConfigError) as err:
        lce.report(tmp_path, {"threshold": 2})
    assert err.value.problems[0][0] == "threshold"
