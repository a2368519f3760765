"""Typed payloads end to end: passkey, NIAH and every perplexity mode return their own Sample and
Metrics classes with every recorded field declared; a results directory reads back as those
classes (the committed example, both earlier formats, a task that is not installed, a record its
class rejects); and a plugin's dicts are validated into its classes before anything is written."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from longctx_eval_tasks.niah import Niah, NiahParams
from longctx_eval_tasks.passkey import Passkey, PasskeyParams
from longctx_eval_tasks.perplexity import Perplexity, PerplexityParams
from longctx_eval_tasks.perplexity_data import PerplexityTaskMetrics, PerplexityTaskSample
from pydantic import ValidationError

from longctx_eval import load_results
from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.payloads import (
    NeedleSample,
    PerplexityMetrics,
    PerplexitySample,
    RetrievalMetrics,
    RetrievalSample,
)
from longctx_eval.prompts import PromptFormat
from longctx_eval.records import CellRecord, Metrics, Sample
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.store import ResultStore, dumps
from longctx_eval.task import TASKS, CellContext, CellOutcome, TaskEnv, TaskParams
from longctx_eval.worker import typed_outcome

from .test_key_tokens import cell as key_cell
from .test_key_tokens import params as key_params
from .test_ruler_payloads import undeclared

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "results" / "examples" / "quickstart"
ENV = TaskEnv(resolve_path=Path)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    backend = HFBackend(HFConfig(batch_size=4))
    backend.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    return backend, backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)), 256)


def context(tokenizer: Any, lm: Any, length: int) -> CellContext:
    return CellContext(length=length, seed=3, lm=lm, prompts=PromptFormat(tokenizer), length_dependent=False)


def test_passkey_niah_and_every_perplexity_mode_return_their_own_classes(
    tokenizer: Any, tiny: tuple[Any, Any], docs_file: Path
):
    _, lm = tiny
    docs = {"dataset": str(docs_file), "documents": 2}
    tasks = {
        "passkey": Passkey(PasskeyParams(samples=2, max_new_tokens=3), ENV),
        "niah": Niah(NiahParams(depths=2, samples_per_depth=1, max_new_tokens=3), ENV),
        "truncate": Perplexity(PerplexityParams(**docs), ENV),
        "sliding": Perplexity(PerplexityParams(**docs, mode="sliding", stride=64), ENV),
        "needle": Perplexity(PerplexityParams(dataset="noise", mode="needle", documents=2), ENV),
    }
    for label, task in tasks.items():
        out = task.run(context(tokenizer, lm, 200))
        assert out.status == "ok", (label, out.reason)
        assert type(out.metrics) is task.Metrics and not undeclared(out.metrics, label), label
        assert out.samples and all(type(s) is task.Sample for s in out.samples), label
        for s in out.samples:
            assert not undeclared(s, label)
            assert task.Sample.model_validate_json(dumps(s)) == s, label  # what the store writes reads back
        typed = typed_outcome(task, out)  # nothing left for the worker to convert
        assert typed.metrics is out.metrics and all(
            a is b for a, b in zip(typed.samples, out.samples, strict=True)
        )
    assert issubclass(Passkey.Sample, RetrievalSample) and Passkey.Metrics is RetrievalMetrics
    assert issubclass(Perplexity.Sample, PerplexitySample) and issubclass(
        Perplexity.Metrics, PerplexityMetrics
    )


def test_key_token_mode_declares_its_own_fields(tiny: tuple[Any, Any], docs_file: Path):
    backend, _ = tiny
    out = Perplexity(key_params(docs_file), ENV).run(key_cell(backend, ScalingSpec("none")))
    assert out.status == "ok", out.reason
    assert isinstance(out.metrics, PerplexityTaskMetrics) and not undeclared(out.metrics, "key")
    assert out.metrics.key_stride is not None and out.metrics.n_key_tokens == out.metrics.n_tokens
    for s in out.samples:
        assert (
            isinstance(s, PerplexityTaskSample) and not undeclared(s, "key") and s.key_positions is not None
        )


def test_the_committed_example_reads_back_as_each_tasks_own_classes():
    results = load_results(EXAMPLE)
    seen = set()
    for r in results.records:
        task = TASKS.get(r.task_name)
        assert type(r.metrics) is task.Metrics and not r.metrics.model_extra, r.cell_id
        samples = results.samples(r)
        assert len(samples) == r.n_samples
        assert all(isinstance(s, task.Sample) and not s.model_extra for s in samples), r.cell_id
        seen.add(r.task_name)
    assert {"passkey", "niah", "perplexity", "analysis"} <= seen


def test_the_first_format_still_reads_and_is_typed(tmp_path: Path):
    """Format 1 (tests/data/quickstart_v1_records.jsonl: passkey version 1, frequencies inline)."""
    (tmp_path / "records.jsonl").write_bytes(
        (ROOT / "tests" / "data" / "quickstart_v1_records.jsonl").read_bytes()
    )
    results = load_results(tmp_path)
    assert len(results.records) == 84
    kinds = {(r.task_name, type(r.metrics)) for r in results.records}
    assert ("passkey", RetrievalMetrics) in kinds and ("perplexity", PerplexityTaskMetrics) in kinds
    passkey = next(r for r in results.records if r.task_name == "passkey" and r.status == "ok")
    assert isinstance(passkey.metrics, RetrievalMetrics) and passkey.metrics.scoring is None  # v1 kept none
    assert passkey.metrics.accuracy is not None


def _hand_made(cid: str, task_name: str, metrics: dict[str, Any]) -> CellRecord:
    return CellRecord.model_validate(
        {
            "cell_id": cid,
            "model": "m",
            "method": "none",
            "method_label": "none",
            "task": task_name,
            "task_name": task_name,
            "task_version": "7",
            "length": 256,
            "status": "ok",
            "metrics": metrics,
        }
    )


def test_a_task_that_is_not_installed_reads_by_the_fields_it_has(tmp_path: Path):
    store = ResultStore(tmp_path)
    needle = {"index": 0, "score": 1.0, "target": "42", "output": " 42", "depth_requested": 0.5}
    doc = {"index": 0, "doc_index": 3, "nll_sum": 12.5, "n_scored_tokens": 10}
    other = {"index": 0, "score": 0.5, "my_field": [1, 2]}
    store.write_cell(
        _hand_made("a", "someone_elses_retrieval", {"accuracy": 1.0, "n": 1, "scoring": "strict"}),
        [Sample.model_validate(needle)],
    )
    store.write_cell(
        _hand_made(
            "b",
            "someone_elses_ppl",
            {"ppl": 3.5, "loss_by_position": [{"start": 0, "end": 256, "nll": 1.2, "n": 9}]},
        ),
        [Sample.model_validate(doc)],
    )
    store.write_cell(
        _hand_made("c", "someone_elses_other", {"my_metric": 2.0}), [Sample.model_validate(other)]
    )
    results = load_results(tmp_path)
    by_id = {r.cell_id: r for r in results.records}
    a, b, c = by_id["a"], by_id["b"], by_id["c"]
    assert isinstance(a.metrics, RetrievalMetrics) and a.metrics.scoring == "strict"
    (sa,) = results.samples(a)
    assert isinstance(sa, NeedleSample) and not isinstance(sa, RetrievalSample) and sa.depth_requested == 0.5
    assert isinstance(b.metrics, PerplexityMetrics) and b.metrics.loss_by_position is not None
    assert b.metrics.loss_by_position[0].nll == 1.2
    (sb,) = results.samples(b)
    assert isinstance(sb, PerplexitySample) and (sb.doc_index, sb.nll_sum) == (3, 12.5)
    assert type(c.metrics) is Metrics and c.metrics.model_extra == {"my_metric": 2.0}  # kept, as an extra
    (sc,) = results.samples(c)
    assert type(sc) is Sample and sc.model_extra == {"my_field": [1, 2]}


def test_a_record_its_installed_class_rejects_warns_and_reads_by_family(tmp_path: Path):
    shutil.copytree(EXAMPLE, tmp_path / "r")
    path = tmp_path / "r" / "records.jsonl"
    lines = path.read_text().splitlines()
    for k, line in enumerate(lines):
        raw = json.loads(line)
        if raw["task_name"] == "passkey" and raw["status"] == "ok":
            raw["metrics"]["depth_drift"] = "far"  # not a number: the installed class rejects it
            lines[k] = json.dumps(raw)
            cid = raw["cell_id"]
            break
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from longctx_eval.payloads import _warned

        _warned.clear()
        results = load_results(tmp_path / "r")
    assert any("do not fit the installed task's class" in str(w.message) for w in caught)
    record = next(r for r in results.records if r.cell_id == cid)
    assert type(record.metrics) is Metrics and record.metrics.model_extra["depth_drift"] == "far"


class _PluginParams(TaskParams):
    pass


class _PluginSample(Sample):
    answer: str


class _PluginMetrics(Metrics):
    hits: int


class _Plugin:
    name = "dict_plugin"
    version = "1"
    Params = _PluginParams
    Sample = _PluginSample
    Metrics = _PluginMetrics


def test_a_plugins_dicts_become_its_own_classes_and_a_missing_field_fails_the_cell():
    typed = typed_outcome(_Plugin, CellOutcome({"hits": 1, "accuracy": 1.0}, [{"index": 0, "answer": "x"}]))
    assert type(typed.metrics) is _PluginMetrics and typed.metrics.hits == 1
    assert [type(s) for s in typed.samples] == [_PluginSample]
    with pytest.raises(ValidationError, match="answer"):
        typed_outcome(_Plugin, CellOutcome({"hits": 1}, [{"index": 0}]))
    # A skip measured nothing: its metrics need not have the required `hits`.
    skipped = typed_outcome(_Plugin, CellOutcome.skipped("too short"))
    assert skipped.status == "skipped" and type(skipped.metrics) is Metrics


def test_ruler_niah_samples_feed_the_depth_heatmap():
    from longctx_eval.reporting.cell_samples import CellSamples

    cls = TASKS.get("ruler_niah").Sample
    assert issubclass(cls, NeedleSample)
    one = NeedleSample(index=0, target="1", output="1", score=1.0, depth_requested=0.25, filler_depth=0.2)
    several = NeedleSample(index=1, target="1, 2", output="1", score=0.0, depth_requested=None)
    cell = CellSamples.of([one, several])  # several needles hold the answer: no depth, left out
    assert (
        list(cell.depth_requested) == [0.25]
        and list(cell.landed) == [0.2]
        and list(cell.depth_scores) == [1.0]
    )
    assert [w.target for w in cell.wrong] == ["1, 2"]


def test_an_installed_plugin_that_keeps_the_base_sample_is_read_by_family(tmp_path: Path):
    from longctx_eval.task import task

    @task
    class KeepsBase:  # declares no Sample or Metrics: @task fills in the base classes
        name = "keeps_base_sample_plugin"
        version = "1"
        Params = _PluginParams

    store = ResultStore(tmp_path)
    needle = {"index": 0, "score": 0.0, "target": "42", "output": " 41", "depth_requested": 0.5}
    store.write_cell(
        _hand_made("a", KeepsBase.name, {"accuracy": 0.0, "n": 1, "scoring": "strict"}),
        [Sample.model_validate(needle)],
    )
    results = load_results(tmp_path)
    (record,) = results.records
    (sample,) = results.samples(record)
    assert isinstance(sample, NeedleSample) and isinstance(record.metrics, RetrievalMetrics)
    assert [w.output for w in results.cell_samples(record).wrong] == [" 41"]


def test_a_plugins_numpy_values_are_written_as_numbers(tmp_path: Path):
    import numpy as np

    typed = typed_outcome(
        _Plugin, CellOutcome({"hits": 1}, [{"index": 0, "answer": "x", "margin": np.float32(0.5)}])
    )
    line = json.loads(dumps(typed.samples[0]))
    assert line["margin"] == 0.5 and json.loads(dumps(typed.metrics))["hits"] == 1


def test_samples_pair_only_on_equal_targets_and_documents_of_any_type():
    assert Sample(index=0, target=5).pairs_as() != Sample(index=0, target=7).pairs_as()  # type: ignore[call-arg]
    a = PerplexityTaskSample(index=0, n_scored_tokens=3, nll_sum=1.0, target="7", doc_index=None)
    b = PerplexityTaskSample(index=0, n_scored_tokens=3, nll_sum=2.0, target="8", doc_index=None)
    assert a.pairs_as() != b.pairs_as()  # needle-mode perplexity: different answers never pair
    c = PerplexitySample(index=0, n_scored_tokens=3, nll_sum=1.0, doc_index=4)
    assert c.pairs_as() == PerplexitySample(index=0, n_scored_tokens=5, nll_sum=9.0, doc_index=4).pairs_as()


def test_a_non_finite_analysis_value_stored_as_null_reads_back_as_nan():
    import math

    from longctx_eval.usage.records import AnalysisMetrics

    raw = json.loads(
        next(
            ln
            for ln in (EXAMPLE / "records.jsonl").read_text().splitlines()
            if '"analysis"' in ln and '"ok"' in ln
        )
    )
    raw["metrics"]["entropy"][0] = None  # what store.dumps writes for a NaN
    metrics = AnalysisMetrics.model_validate(raw["metrics"])
    assert math.isnan(metrics.entropy[0]) and not metrics.model_extra


def test_what_crosses_to_another_process_is_base_classes_with_the_same_json():
    """A Ray actor returns `Finished.portable()`: no plugin class to unpickle on the driver, and
    the store writes exactly what it would have written from the task's own classes."""
    from longctx_eval.executors import Finished

    results = load_results(EXAMPLE)
    record = next(r for r in results.records if r.task_name == "niah" and r.status == "ok")
    finished = Finished(record, results.samples(record))
    moved = finished.portable()
    assert type(moved.record.metrics) is Metrics and {type(s) for s in moved.samples or ()} == {Sample}
    assert dumps(moved.record) == dumps(record)
    assert [dumps(s) for s in moved.samples or ()] == [dumps(s) for s in finished.samples or ()]
