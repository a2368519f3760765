"""Reading results in bulk: the fast path (pydantic's JSON parser, the collector paused) gives
exactly what the careful path gives, leaves the collector as it found it, and a report's samples
are parsed once while they fit in the bounded cache."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import pytest

from longctx_eval.records import CellRecord, Sample, upgrade_record
from longctx_eval.reporting import load_results
from longctx_eval.reporting import results as results_module
from longctx_eval.store import RECORDS, SAMPLES, read_record_file, read_samples

QUICKSTART = Path(__file__).resolve().parent.parent / "results" / "examples" / "quickstart"
V1 = Path(__file__).resolve().parent / "data" / "quickstart_v1_records.jsonl"


def test_records_read_fast_equal_json_then_validation():
    lines = [ln for ln in (QUICKSTART / RECORDS).read_text(encoding="utf-8").splitlines() if ln.strip()]
    expected = [CellRecord.model_validate(upgrade_record(json.loads(ln))[0]) for ln in lines]
    got = read_record_file(QUICKSTART).records
    assert [r.model_dump() for r in got] == [r.model_dump() for r in expected]


def test_first_format_records_still_take_the_upgrade(tmp_path: Path):
    shutil.copyfile(V1, tmp_path / RECORDS)
    read = read_record_file(tmp_path)
    assert read.records and read.inline_frequencies  # frequencies moved out of the lines
    assert all(r.rope_key in read.inline_frequencies for r in read.records if r.rope_key)
    assert not any(hasattr(r, "rope") and r.model_extra and "rope" in r.model_extra for r in read.records)


def test_samples_read_fast_equal_json_then_validation_and_damage_is_skipped(tmp_path: Path):
    cid = next(p.stem for p in (QUICKSTART / SAMPLES).glob("*.jsonl"))
    raw = (QUICKSTART / SAMPLES / f"{cid}.jsonl").read_text(encoding="utf-8")
    expected = [Sample.model_validate(json.loads(ln)) for ln in raw.splitlines() if ln.strip()]
    (tmp_path / SAMPLES).mkdir()
    (tmp_path / SAMPLES / f"{cid}.jsonl").write_text(raw + '{"index": 99, "sco\n', encoding="utf-8")
    with pytest.warns(UserWarning, match="damaged sample line"):
        got = read_samples(tmp_path, cid)
    assert [s.model_dump() for s in got] == [s.model_dump() for s in expected]


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_leaves_the_collector_as_it_was(enabled: bool):
    (gc.enable if enabled else gc.disable)()
    try:
        load_results(QUICKSTART)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_a_report_parses_each_samples_file_once_while_they_fit(monkeypatch: pytest.MonkeyPatch):
    results = load_results(QUICKSTART)
    with_samples = [r for r in results.records if (QUICKSTART / SAMPLES / f"{r.cell_id}.jsonl").exists()]
    for _ in range(3):
        for r in with_samples:
            results.samples(r)
    assert results.samples_files_read == len(with_samples)
    # bounded: with room for few samples, the oldest cells are dropped and read again
    monkeypatch.setattr(results_module, "SAMPLES_HELD", 50)
    small = load_results(QUICKSTART)
    for _ in range(2):
        for r in with_samples:
            small.samples(r)
    assert small.samples_files_read > len(with_samples)
    assert sum(len(v) for v in small._samples.values()) <= 50 + max(
        len(small.samples(r)) for r in with_samples
    )


def test_a_report_with_pictures_parses_each_samples_file_at_most_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The summary's passes (paired tables, headline tests, sentences, intervals) and the pictures
    visit cells in different orders; each file is still parsed once (`Results.cell_samples`)."""
    from collections import Counter

    from longctx_eval.reporting import write_report

    directory = tmp_path / "r"
    shutil.copytree(QUICKSTART, directory)
    parsed: Counter[str] = Counter()
    real = results_module.read_samples

    def counted(d: Path, cell_id: str, *args: object) -> list[Sample]:
        parsed[cell_id] += 1
        return real(d, cell_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(results_module, "read_samples", counted)
    monkeypatch.setattr(results_module, "SAMPLES_HELD", 1)  # nothing kept as objects between passes
    write_report(directory, pictures=True)
    with_samples = {p.stem for p in (directory / SAMPLES).glob("*.jsonl")}
    assert parsed and set(parsed) <= with_samples
    assert max(parsed.values()) == 1, parsed.most_common(3)
    assert len(parsed) > len(with_samples) // 2  # the passes did read them: not a vacuous bound
