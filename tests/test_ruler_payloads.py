"""RULER's typed payloads: every task, run on the tiny model, returns its own Sample and Metrics
classes with every recorded field declared (nothing left as an undeclared extra), and what the
store writes reads back as the same instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from longctx_eval_tasks.ruler_common import RulerMetrics, RulerParams, RulerSample
from longctx_eval_tasks.ruler_cwe import RulerCwe, RulerCweParams
from longctx_eval_tasks.ruler_fwe import RulerFwe, RulerFweParams
from longctx_eval_tasks.ruler_niah import RulerNiah, RulerNiahParams
from longctx_eval_tasks.ruler_qa import RulerQa, RulerQaParams
from longctx_eval_tasks.ruler_vt import RulerVt, RulerVtParams
from pydantic import BaseModel

from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.store import dumps
from longctx_eval.task import TASKS
from longctx_eval.worker import typed_outcome

from . import test_ruler
from .test_ruler import ENV, cell

qa_files = test_ruler.qa_files  # the fixture: its SQuAD- and HotpotQA-style files

BUDGET = 3  # generated tokens: enough for real outputs, cheap on the tiny model


def tasks(qa: dict[str, Path]) -> dict[str, Any]:
    """One task per RULER task class, with variants that record the optional fields both ways."""
    short: dict[str, Any] = {"samples": 2, "max_new_tokens": BUDGET}
    return {
        "niah_single": RulerNiah(RulerNiahParams(**short), ENV),
        "niah_multivalue": RulerNiah(RulerNiahParams(**short, num_needle_v=2), ENV),
        "niah_needle_haystack": RulerNiah(RulerNiahParams(**short, haystack="needle"), ENV),
        "vt": RulerVt(RulerVtParams(**short, fewshot_length=100), ENV),
        "vt_unchecked": RulerVt(RulerVtParams(**short, check_retokenization=False), ENV),
        "cwe": RulerCwe(RulerCweParams(**short), ENV),
        "fwe": RulerFwe(RulerFweParams(**short), ENV),
        "qa_squad": RulerQa(RulerQaParams(**short, dataset=str(qa["squad"])), ENV),
        "qa_hotpotqa": RulerQa(RulerQaParams(**short, dataset=str(qa["hotpotqa"]), protocol="ruler"), ENV),
    }


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir: Path) -> Any:
    backend = HFBackend(HFConfig(batch_size=2))
    backend.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    return backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))


def undeclared(model: BaseModel, where: str) -> list[str]:
    """The undeclared fields of a payload and of the models nested in it, by path."""
    out = [f"{where}.{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for k, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                out += undeclared(item, f"{where}.{name}[{k}]")
    return out


def test_every_ruler_task_returns_its_own_classes_with_every_field_declared(
    tokenizer: Any, tiny_lm: Any, qa_files: dict[str, Path]
):
    fmt = PromptFormat(tokenizer)
    seen = set()
    for label, task in tasks(qa_files).items():
        assert isinstance(task.params, RulerParams), label  # one declaration of the common settings
        assert issubclass(task.Sample, RulerSample) and task.Metrics is RulerMetrics, label
        out = task.run(cell(tokenizer, tiny_lm, task.min_length(fmt) + 10))
        assert type(out.metrics) is task.Metrics and not undeclared(out.metrics, label), label
        assert out.metrics.n == len(out.samples) == 2 and out.metrics.n_empty is not None, label
        assert out.samples and all(type(s) is task.Sample for s in out.samples), label
        for s in out.samples:
            assert not undeclared(s, label)
            # What the store writes reads back, by the task's own class, as the same sample.
            assert task.Sample.model_validate_json(dumps(s)) == s, label
        # The worker has nothing left to convert: a built-in task's payloads pass through as they are.
        typed = typed_outcome(task, out)
        assert typed.metrics is out.metrics and all(
            a is b for a, b in zip(typed.samples, out.samples, strict=True)
        )
        seen.add(task.name)
    assert seen == {name for name in TASKS if name.startswith("ruler_")}  # every RULER task
