"""What a new user notices in the first hour: depths that tell the truth, plots, and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from longctx_eval_tasks.niah import Niah, NiahParams
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.task import TaskEnv

from .test_tasks import ReadsTheNeedle, ctx

runner = CliRunner()


def test_a_haystack_with_few_sentence_ends_says_where_the_needles_landed(tmp_path: Path, tokenizer: Any):
    # Code-like filler: one sentence end per long line, so needles snap far back.
    line = " ".join(f"value_{i} = compute(value_{i - 1}, factor)" for i in range(1, 60))
    hay = tmp_path / "code.txt"
    hay.write_text(f"{line}.\n" * 6)
    lm = ReadsTheNeedle(tokenizer, r"special magic numbers for [\w-]+ is: (\d+)\.")
    params = NiahParams(depths=3, samples_per_depth=1, haystack=str(hay))
    out = Niah(params, TaskEnv(resolve_path=Path)).run(ctx(tokenizer, lm, 600))
    landed = [s.filler_depth for s in out.samples]
    asked = [s.depth_requested for s in out.samples]
    assert asked == [0.0, 0.5, 1.0] and landed[0] == 0.0 and landed[2] == 1.0
    assert landed[1] < 0.45  # snapped back to the last sentence end before the middle
    assert out.metrics.depth_drift == pytest.approx(0.5 - landed[1])
    assert "landed up to" in out.metrics.depth_warning
    # On the noise haystack (a sentence end every few words) the needles land where they were asked.
    calm = Niah(NiahParams(depths=3, samples_per_depth=1), TaskEnv(resolve_path=Path)).run(
        ctx(tokenizer, lm, 600)
    )
    assert calm.metrics.depth_drift < 0.05 and "depth_warning" not in calm.metrics


def test_heatmap_rows_carry_the_real_depth():
    from longctx_eval.reporting.plots import depth_labels

    labels = depth_labels([0.0, 0.5, 1.0], {0.0: [0.0], 0.5: [0.36, 0.38], 1.0: [1.0]}, exact=True)
    assert labels == ["0% (at 0%)", "50% (at 37%)", "100% (at 100%)"]


def test_ls_verbose_shows_real_defaults_and_choices():
    out = runner.invoke(app, ["ls", "-v"])
    assert out.exit_code == 0 and "PydanticUndefined" not in out.output
    assert "engine_args: default {}" in out.output
    assert "average: default 'token'; one of token, window" in out.output
    assert "factors_file: default none" in out.output and "      source:" not in out.output
    assert "task groups:" in out.output and "ruler" in out.output


def test_ls_config_lists_the_sweeps_own_plugins(tmp_path: Path):
    from .test_plugins import USER_TASK

    (tmp_path / "mine.py").write_text(USER_TASK.format(name="only_in_this_sweep"))
    (tmp_path / "s.yaml").write_text(
        f"name: s\nmodels: [{{name: m, path: x}}]\nmethods: [none]\nlengths: [8]\ntasks: [passkey]\ntasks_path: [{tmp_path / 'mine.py'}]\n"
    )
    out = runner.invoke(app, ["ls", "--config", str(tmp_path / "s.yaml")])
    assert out.exit_code == 0 and "only_in_this_sweep" in out.output


def test_rope_without_a_factor_exits_2(tmp_path: Path):
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=256, num_attention_heads=4).save_pretrained(tmp_path)
    out = runner.invoke(app, ["rope", "--model", str(tmp_path), "--method", "yarn"])
    assert out.exit_code == 2 and "--factor: yarn needs a scale factor" in out.output


def test_a_broken_plugin_names_its_file(tmp_path: Path):
    from longctx_eval.task import load_task_plugins

    bad = tmp_path / "broken_plugin.py"
    bad.write_text("import numpyy\n")
    with pytest.raises(
        ImportError, match=r"task plugin .*broken_plugin.py failed to load: ModuleNotFoundError"
    ):
        load_task_plugins([bad])


def test_a_task_registered_twice_says_where_the_first_came_from():
    from longctx_eval.task import load_task_plugins, task

    load_task_plugins()

    class Impostor:
        name, version, Params = "niah", "1", object

    with pytest.raises(
        ValueError, match=r"task 'niah' is already registered \(by longctx_eval_tasks.niah \("
    ):
        task(Impostor)


def test_an_unreachable_hub_fails_fast_with_advice(monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    from longctx_eval.models import ModelNotFound, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    # One probe instead of transformers' retries (~38 s of log lines before the same conclusion).
    with pytest.raises(ModelNotFound, match=r"the hub is unreachable .*set HF_HUB_OFFLINE=1"):
        resolve_model("someone/not-a-cached-model")


def test_threads_respect_affinity_and_the_cgroup_quota(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import os

    from longctx_eval import threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    assert threads.available_cpus() == 8
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 3)  # e.g. cpu.max "250000 100000"
    assert threads.available_cpus() == 3
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 1.0, 1.0))
    assert threads.choose_wait_policy() == "PASSIVE"  # busy: spinning threads would fight
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert threads.choose_wait_policy() == "ACTIVE"  # the user's choice stands
