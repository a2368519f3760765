"""The results store: append-only records, torn lines, finished-cell bookkeeping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from longctx_eval.records import CellRecord
from longctx_eval.store import ResultStore, dumps, read_records


def record(cid: str, status: str = "ok", **kw: object) -> CellRecord:
    fields = {"cell_id": cid, "status": status, "model": "m", "method": "none", "method_label": "none"}
    return CellRecord.model_validate({**fields, "task": "t", "length": 8, **kw})


def test_samples_land_before_the_record(tmp_path: Path):
    store = ResultStore(tmp_path)
    store.write_cell(record("a"), [{"index": 0, "score": 1.0}])
    assert json.loads((tmp_path / "samples" / "a.jsonl").read_text()) == {"index": 0, "score": 1.0}
    assert read_records(tmp_path) == [record("a")]
    assert not list((tmp_path / "samples").glob(".*tmp"))


def test_torn_last_line_is_skipped_and_fenced_off(tmp_path: Path):
    store = ResultStore(tmp_path)
    store.write_cell(record("a"), None)
    with open(tmp_path / "records.jsonl", "a") as f:
        f.write('{"cell_id": "b", "sta')  # a crash in the middle of a write
    with pytest.warns(UserWarning, match="torn or corrupt"):
        assert [r.cell_id for r in read_records(tmp_path)] == ["a"]
    store.write_cell(record("c"), None)
    with pytest.warns(UserWarning):
        assert [r.cell_id for r in read_records(tmp_path)] == ["a", "c"]
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert lines[0] == dumps(record("a")) and lines[1].startswith(
        '{"cell_id": "b"'
    )  # earlier lines untouched


def test_failed_cells_are_not_finished(tmp_path: Path):
    store = ResultStore(tmp_path)
    store.write_cell(record("a", "failed"), None)
    store.write_cell(record("b", "skipped"), None)
    store.write_cell(record("c"), None)
    assert store.finished_ids() == {"b", "c"}
    store.write_cell(record("a"), None)  # retried later and succeeded
    assert store.finished_ids() == {"a", "b", "c"}


def test_nan_is_written_as_null():
    assert json.loads(dumps({"x": math.nan, "y": [math.inf, 1.0]})) == {"x": None, "y": [None, 1.0]}


def test_manifest_keeps_one_entry_per_run(tmp_path: Path):
    store = ResultStore(tmp_path)
    store.write_manifest({"started_at": "1"}, {"sweep": "s"})
    store.write_manifest({"started_at": "2"}, {"sweep": "s"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [r["started_at"] for r in manifest["runs"]] == ["1", "2"] and manifest["sweep"] == "s"


def test_written_files_are_as_readable_as_any_new_file(tmp_path: Path):
    from longctx_eval.store import atomic_write

    atomic_write(tmp_path / "leaderboard.md", "x\n")
    (tmp_path / "plain.txt").write_text("x\n")
    assert (tmp_path / "leaderboard.md").stat().st_mode & 0o777 == (
        tmp_path / "plain.txt"
    ).stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        (b"[1, 2, 3]", "a JSON list, not an object"),
        (b'"just a string"', "a JSON str, not an object"),
        (b'{"cell_id": "x", "status": "ok"}', "bad field (model: Field required)"),
        (
            b'{"cell_id": "x", "status": "maybe", "model": "m", "method": "n", "method_label": "n", "task": "t", "length": 1}',
            "bad field (status",
        ),
        (b'{"cell_id": "\xff\xfe"}', "not valid UTF-8"),
    ],
)
def test_damaged_lines_are_skipped_with_a_warning_naming_the_line(tmp_path: Path, line: bytes, warning: str):
    store = ResultStore(tmp_path)
    store.write_cell(record("a"), None)
    with open(tmp_path / "records.jsonl", "ab") as f:
        f.write(line + b"\n")
    store.write_cell(record("c"), None)
    with pytest.warns(UserWarning, match=r"records.jsonl:2: skipping a ") as caught:
        assert [r.cell_id for r in read_records(tmp_path)] == ["a", "c"]
    assert warning in str(caught[0].message)
    with pytest.warns(UserWarning):
        assert store.finished_ids() == {"a", "c"}


def test_a_first_format_record_is_upgraded_and_its_frequencies_move_out(tmp_path: Path):
    from longctx_eval.records import rope_key
    from longctx_eval.reporting import load_results

    rope = {"inv_freq": [1.0, 0.1], "base_inv_freq": [1.0, 0.1], "attention_factor": 1.0}
    old = {**record("a").model_dump(), "rope": rope}
    del old["schema_version"], old["rope_key"]
    (tmp_path / "records.jsonl").write_text(json.dumps(old) + "\n")
    (rec,) = read_records(tmp_path)
    assert rec.schema_version == 2 and rec.rope_key == rope_key(rope) and "rope" not in rec.model_dump()
    results = load_results(tmp_path)
    assert results.rope(results.records[0]).inv_freq == [1.0, 0.1]


def test_frequencies_are_stored_once_per_group(tmp_path: Path):
    from longctx_eval.records import RopeFrequencies

    rope = RopeFrequencies(inv_freq=[1.0, 0.5], base_inv_freq=[1.0, 0.5])
    store = ResultStore(tmp_path)
    for cid in ("a", "b"):
        store.write_cell(record(cid, rope_key=rope.key()), None, rope)
    assert [p.name for p in (tmp_path / "rope").iterdir()] == [f"{rope.key()}.json"]
    assert all(r.rope_key == rope.key() for r in read_records(tmp_path))


def test_a_first_format_length_dependent_record_reads_as_the_transformers_policy(tmp_path: Path):
    lines = []
    for cid, rope_type, backend in [
        ("d", "dynamic", "hf"),
        ("l", "longrope", "vllm"),
        ("n", "default", "hf"),
    ]:
        old = {
            **record(cid).model_dump(),
            "rope_parameters": {"rope_type": rope_type},
            "backend": {"kind": backend},
        }
        del old["schema_version"], old["generation_policy"]
        lines.append(json.dumps(old))
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n")
    policies = {r.cell_id: r.generation_policy for r in read_records(tmp_path)}
    assert policies == {"d": "transformers", "l": "static", "n": None}


def test_a_corrupt_samples_line_is_skipped_and_report_still_works(tmp_path: Path):
    from typer.testing import CliRunner

    from longctx_eval.cli import app
    from longctx_eval.store import read_samples

    store = ResultStore(tmp_path)
    store.write_cell(
        record("a", metrics={"accuracy": 1.0, "n": 2}),
        [{"index": 0, "score": 1.0}, {"index": 1, "score": 1.0}],
    )
    path = tmp_path / "samples" / "a.jsonl"
    path.write_bytes(path.read_bytes().replace(b'{"index": 1', b'{"index": \xff1'))
    with pytest.warns(UserWarning, match=r"a.jsonl:2: skipping a damaged sample line"):
        assert [s.index for s in read_samples(tmp_path, "a")] == [0]
    with open(tmp_path / "records.jsonl", "ab") as f:
        f.write(b"[1, 2]\n")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").exists()


def test_task_settings_are_stored_once_per_entry_and_read_back(tmp_path: Path):
    from longctx_eval.reporting import load_results

    params = {"samples": 40, "instruction": "There is an important info hidden inside a lot of text."}
    store = ResultStore(tmp_path)
    for cid, length in (("a", 8), ("b", 16)):
        store.write_cell(record(cid, task_params=params, length=length), None)
    assert len(list((tmp_path / "params").iterdir())) == 1
    assert all(r.task_params == {} and r.task_params_key for r in read_records(tmp_path))
    results = load_results(tmp_path)
    assert [results.task_params(r) for r in results.records] == [params, params]
