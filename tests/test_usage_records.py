"""The `analysis` task's typed payloads (longctx_eval.usage.records): what the task produces, what
the committed example holds, and that the task's figures are `analyze`'s for the same setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from longctx_eval_tasks.analysis import Analysis, AnalysisParams

from longctx_eval import load_results
from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.prompts import PromptFormat
from longctx_eval.records import Metrics, Sample
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.task import CellContext, CellOutcome, TaskEnv
from longctx_eval.usage import analyze
from longctx_eval.usage.records import (
    AnalysisMetrics,
    AnalysisSample,
    LayerSample,
    RopeSample,
    analysis_metrics,
    layer_samples,
    rope_sample,
)
from longctx_eval.worker import typed_outcome

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "examples" / "quickstart"
LENGTH, SEED = 128, 11


@pytest.fixture(scope="module")
def outcome_and_model(tiny_model_dir: Path, docs_file: Path) -> tuple[CellOutcome, Any, Any]:
    backend = HFBackend(HFConfig(batch_size=2))
    backend.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    params = AnalysisParams(dataset=str(docs_file), documents=2, decay_points=32, gaussian_samples=64)
    ctx = CellContext(
        length=LENGTH, seed=SEED, lm=lm, prompts=PromptFormat(backend.tokenizer), length_dependent=False
    )
    return Analysis(params, TaskEnv(resolve_path=Path)).run(ctx), lm.torch_model, backend.tokenizer


def test_the_task_returns_its_own_classes_with_nothing_undeclared(
    outcome_and_model: tuple[CellOutcome, Any, Any],
) -> None:
    outcome, _, _ = outcome_and_model
    metrics = outcome.metrics
    assert type(metrics) is AnalysisMetrics and metrics.model_extra == {}
    assert metrics.measured and metrics.n_documents == 2 and metrics.n_tokens == 2 * LENGTH
    assert [type(s) for s in outcome.samples] == [LayerSample, LayerSample, RopeSample]
    assert all(isinstance(s, Sample) and s.model_extra == {} for s in outcome.samples)
    assert typed_outcome(Analysis, outcome) == outcome  # the worker keeps them as they are


def test_the_tasks_figures_are_analyzes_for_the_same_setting(
    outcome_and_model: tuple[CellOutcome, Any, Any], docs_file: Path
) -> None:
    outcome, model, tokenizer = outcome_and_model
    result = analyze(
        model,
        str(docs_file),
        LENGTH,
        tokenizer=tokenizer,
        documents=2,
        seed=SEED,
        decay_points=32,
        gaussian_samples=64,
        top_heads=5,
    )
    m = outcome.metrics
    assert isinstance(m, AnalysisMetrics)
    (own,) = result.attention
    assert m.entropy == own.entropy and m.mean_distance == own.mean_distance
    assert m.qk_band_share == result.qk_band_share and m.check_error == result.check_error
    assert m.positional_heads == result.positional_heads and m.rotary_dim == result.rotary_dim
    (ood,) = result.ood
    assert (m.ood_share, m.ood_distance_share, m.ood_share_by_kind) == (
        ood.share,
        ood.distance_share,
        ood.share_by_kind,
    )
    assert m.ood_share is not None and m.ood_share > 0.0  # L = 64: the slow pairs are past training
    layers, rope = layer_samples(outcome.samples), rope_sample(outcome.samples)
    assert rope is not None and rope.ood_pairs == ood.pairs and rope.inv_freq == result.inv_freq
    (decay,) = result.decay
    assert rope.decay_ones == pytest.approx(decay.ones, rel=1e-4, abs=1e-9)
    assert rope.decay_gaussian_mean == pytest.approx(decay.gaussian_mean, rel=1e-4, abs=1e-9)
    for i, layer in enumerate(layers):  # stored at 5 significant digits
        assert np.allclose(layer.q_norm, result.q_norm[i], rtol=1e-4, atol=0)
        assert np.allclose(layer.band_contrast, result.band_contrast[i], rtol=1e-4, atol=1e-12)
        assert layer.entropy == pytest.approx(own.entropy_per_head[i], rel=1e-4)
        assert layer.decay_model == pytest.approx(decay.model[i], rel=1e-4, abs=1e-12)


def test_a_skipped_cell_keeps_the_base_metrics_and_is_no_analysis_to_report() -> None:
    typed = typed_outcome(Analysis, CellOutcome.skipped("no document has 4096 tokens"))
    assert type(typed.metrics) is Metrics and not typed.samples  # measured nothing


def _example_analysis() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for line in (EXAMPLE / "records.jsonl").read_text().splitlines():
        raw = json.loads(line)
        if raw["task_name"] == "analysis" and raw["status"] == "ok":
            lines = (EXAMPLE / "samples" / f"{raw['cell_id']}.jsonl").read_text().splitlines()
            out.append((raw, [json.loads(s) for s in lines]))
    return out


def test_the_committed_example_reads_through_the_models_and_writes_back_the_same() -> None:
    cells = _example_analysis()
    assert len(cells) == 36
    for raw, samples in cells:
        metrics = AnalysisMetrics.model_validate(raw["metrics"])
        assert metrics.model_extra == {} and metrics.model_dump(mode="json") == raw["metrics"]
        typed = [AnalysisSample.model_validate(s) for s in samples]
        assert [type(s) for s in typed] == [LayerSample] * (len(samples) - 1) + [RopeSample]
        for sample, line in zip(typed, samples, strict=True):
            # (the example predates the base class's `score`, which a dump now adds as null)
            assert sample.model_extra == {} and sample.model_dump(mode="json", exclude_unset=True) == line


def test_the_reader_gives_the_report_typed_analysis_records_and_samples() -> None:
    results = load_results(EXAMPLE)
    record = next(r for r in results.records if r.task_name == "analysis" and r.status == "ok")
    metrics = analysis_metrics(record)
    assert metrics is record.metrics and isinstance(metrics, AnalysisMetrics)  # typed on reading
    samples = results.samples(record)
    assert [s.layer for s in layer_samples(samples)] == [0, 1, 2, 3] and rope_sample(samples) is not None
    assert analysis_metrics(record.model_copy(update={"status": "skipped"})) is None
    assert analysis_metrics(record.model_copy(update={"metrics": Metrics(ppl=3.0)})) is None
    base = record.model_copy(update={"metrics": Metrics.model_validate(metrics.model_dump())})
    assert analysis_metrics(base) is None  # only the reader types: nothing here guesses from fields


def test_an_unknown_kind_stays_a_plain_analysis_sample() -> None:
    s = AnalysisSample.model_validate({"index": 0, "kind": "attention", "x": [1.0]})
    assert type(s) is AnalysisSample and s.model_extra == {"x": [1.0]}
    with pytest.raises(ValueError):
        AnalysisSample.model_validate({"index": 0, "kind": "layer"})  # a layer sample lacks its fields
