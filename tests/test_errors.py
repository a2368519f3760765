"""No swallowed errors: each place that used to hide an exception now handles a named one, or
records, warns and goes on. Each case raises the real error in the real neighbour's place and checks
what the user is told and what is left."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from .conftest import sweep_dict


def _raise(exc: BaseException) -> Any:
    def f(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return f


def test_a_vllm_engine_that_fails_to_stop_is_reported_and_forgotten():
    from longctx_eval.backends import VLLMConfig
    from longctx_eval.backends.vllm_engine import VLLMBackend

    backend = VLLMBackend(VLLMConfig(kind="vllm"))
    # The engine's own object is the neighbour here: what matters is what unload does with its failure.
    core = SimpleNamespace(shutdown=_raise(RuntimeError("worker 3 did not answer")))
    backend._llm = SimpleNamespace(llm_engine=SimpleNamespace(engine_core=core))
    with pytest.warns(RuntimeWarning, match=r"did not shut down cleanly \(RuntimeError: worker 3"):
        backend.unload()
    assert backend._llm is None  # the next group starts a new engine instead of reusing a broken one


def test_a_ray_actor_that_cannot_be_stopped_is_named():
    from longctx_eval.executors import RayConfig
    from longctx_eval.executors.ray_cluster import RaySession

    ex = RaySession(plan=None, config=RayConfig(kind="ray"), progress=None)  # type: ignore[arg-type]
    ex.ray = SimpleNamespace(kill=_raise(ValueError("not an actor")), shutdown=lambda: None)
    ex.idle = ["actor-7", "actor-8"]
    with pytest.warns(UserWarning, match=r"could not stop Ray actor actor-[78]: ValueError") as caught:
        ex.close()
    assert len(caught) == 2 and ex.idle == []  # every actor is tried, each failure said


def test_a_corrupt_manifest_is_kept_aside_not_silently_dropped(tmp_path: Path):
    from longctx_eval.store import MANIFEST, ResultStore

    store = ResultStore(tmp_path)
    (tmp_path / MANIFEST).write_text('{"runs": [{"started": "yesterday"}], ')  # torn by a crash
    with pytest.warns(UserWarning, match=r"could not be read \(JSONDecodeError\); it was kept as"):
        store.write_manifest({"started": "today"}, {"config": {}})
    kept = list(tmp_path.glob(f"{MANIFEST}.unreadable-*"))
    assert len(kept) == 1 and "yesterday" in kept[0].read_text()
    assert json.loads((tmp_path / MANIFEST).read_text())["runs"] == [{"started": "today"}]


def test_a_broken_model_in_the_hub_cache_is_not_called_missing(monkeypatch: pytest.MonkeyPatch):
    import transformers

    from longctx_eval import models

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(models, "hub_unreachable", lambda timeout=3.0: "connection refused")
    monkeypatch.setattr(
        transformers.AutoConfig, "from_pretrained", _raise(ValueError("unrecognized model type 'xyz'"))
    )
    with pytest.raises(
        models.ModelNotFound, match=r"found in the local hub cache .* unrecognized model type"
    ):
        models.resolve_model("someone/broken-model")
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", _raise(OSError("not in cache")))
    with pytest.raises(models.ModelNotFound, match=r"not in the local hub cache"):
        models.resolve_model("someone/missing-model")


def test_frequencies_that_cannot_be_computed_share_nothing_and_say_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path
):
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.rope import analysis

    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "pi", "factors": [1]}],
        lengths=[128],
        tasks=[{"task": "passkey"}],
    )
    shared = make_plan(parse_sweep(data, str(tmp_path)))
    assert any(c.same_as for c in shared.cells)  # pi@1 is `none`: shared when it can be computed

    monkeypatch.setattr(analysis, "frequency_record", _raise(KeyError("rope_type")))
    plan = make_plan(parse_sweep(data, str(tmp_path)))
    assert not any(c.same_as for c in plan.cells)
    assert any("could not be computed before the run" in w and "KeyError" in w for w in plan.warnings)


def test_a_cell_whose_frequencies_cannot_be_recorded_still_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_dir: Path
):
    from longctx_eval import api, worker
    from longctx_eval.store import read_records

    data = sweep_dict(
        tiny_model_dir, methods=["none"], lengths=[128], tasks=[{"task": "passkey", "samples": 2}]
    )
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(worker, "frequency_record", _raise(ValueError("no such rope type")))
    with pytest.warns(RuntimeWarning, match=r"frequencies to record for the report could not be computed"):
        api.run(config, output=tmp_path / "out", progress="none")
    (record,) = read_records(tmp_path / "out")
    assert record.status == "ok" and record.metrics.accuracy is not None and record.rope_key is None
