"""Bad input: one line per problem naming the field, exit code 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.config import ConfigError, parse_sweep

from .conftest import sweep_dict

runner = CliRunner()


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def run_cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def assert_config_error(result: Any, *expected: str) -> list[str]:
    assert result.exit_code == 2, result.output
    text = result.output
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), lines
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)
    return lines


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"methods": [{"method": "rope_magic", "factors": [2]}]},
            "methods.0.method: unknown method 'rope_magic' (valid: none, pi, ntk, dynamic_ntk, yarn, longrope, llama3, p_rope",  # then any plugins a test loaded
        ),
        ({"tasks": [{"task": "summarise"}]}, "tasks.0.task: unknown task 'summarise' (valid: "),
        (
            {"methods": ["none", {"method": "pi", "factors": [2, -2]}]},
            "methods.1.factors.1: a scale factor must be >= 1 (got -2)",
        ),
        (
            {"methods": [{"method": "yarn", "factors": [0]}]},
            "methods.0.factors.0: a scale factor must be >= 1 (got 0)",
        ),
        ({"methods": [{"method": "yarn"}]}, "methods.0.factors: yarn needs factors"),
        ({"methods": [{"method": "yarn", "factors": [2], "beta_fst": 3}]}, "methods.0.beta_fst: unknown key"),
        ({"lengths": [0, 128]}, "lengths.0: input should be greater than 0 (got 0)"),
        ({"lengths": [-5]}, "lengths.0: input should be greater than 0 (got -5)"),
        ({"tasks": [{"task": "passkey", "sampels": 3}]}, "tasks.0.sampels: unknown key"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"backend": {"kind": "tpu"}}, "backend.kind: unknown backend 'tpu' (valid: hf"),
        ({"backend": {"kind": "hf", "dtype": "float8"}}, "backend.dtype: input should be"),
        (
            {"tasks": [{"task": "niah", "depths": [50, 150]}]},
            "tasks.0.depths: value error, depth percents must be within 0-100",
        ),
    ],
)
def test_bad_field_is_named(tmp_path: Path, tiny_model_dir: Path, change: dict[str, Any], expected: str):
    config = write(tmp_path, sweep_dict(tiny_model_dir, **change))
    assert_config_error(run_cli("validate", str(config)), expected)


def test_missing_model_path(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(tiny_model_dir, models=[{"name": "m", "path": "./models/nope"}])
    assert_config_error(
        run_cli("validate", str(write(tmp_path, data))),
        "models.0.path: no such model directory: ./models/nope",
    )


def test_length_too_short_for_the_tasks_fixed_text(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(tiny_model_dir, lengths=[256, 16])
    lines = assert_config_error(
        run_cli("validate", str(write(tmp_path, data))), "lengths.1: 16 is shorter than task 'passkey' needs"
    )
    assert len(lines) == 1


def test_yaml_syntax_error(tmp_path: Path):
    path = write(tmp_path, "name: x\nmodels:\n  - {name: a, path: b\nlengths: [1]\n")
    assert_config_error(run_cli("validate", str(path)), "YAML syntax error at line")


def test_missing_file():
    assert_config_error(run_cli("validate", "no/such/sweep.yaml"), "no/such/sweep.yaml: no such file")


def test_all_problems_are_reported_at_once(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(
        tiny_model_dir,
        methods=[{"method": "nope"}, {"method": "pi", "factors": [0.5]}],
        tasks=[{"task": "passkey", "oops": 1}],
        extra_key=1,
    )
    assert_config_error(
        run_cli("validate", str(write(tmp_path, data))),
        "extra_key: unknown key",
    )
    data.pop("extra_key")
    assert_config_error(
        run_cli("validate", str(write(tmp_path, data))),
        "methods.0.method: unknown method 'nope'",
        "methods.1.factors.0: a scale factor must be >= 1 (got 0.5)",
        "tasks.0.oops: unknown key",
    )


def test_run_with_a_bad_config_writes_nothing(tmp_path: Path, tiny_model_dir: Path):
    out = tmp_path / "out"
    config = write(tmp_path, sweep_dict(tiny_model_dir, lengths=[8]))
    assert_config_error(run_cli("run", str(config), "--output", str(out)), "lengths.0")
    assert not out.exists()


def test_valid_config(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    data = sweep_dict(
        tiny_model_dir,
        methods=[
            "none",
            {"method": "pi", "factors": [2, 4]},
            {"method": "yarn", "factors": "auto"},
            {"method": "p_rope", "p": 0.5},
        ],
        tasks=[{"task": "passkey"}, {"task": "perplexity", "dataset": str(docs_file)}],
    )
    result = run_cli("validate", str(write(tmp_path, data)))
    assert result.exit_code == 0, result.output
    # none + pi@2 + pi@4 + p_rope (each at 2 lengths) + yarn@auto (one spec per length) = 10 per task
    assert "ok: 20 cells" in result.output


def test_duplicate_task_labels_need_a_label(tiny_model_dir: Path):
    data = sweep_dict(tiny_model_dir, tasks=[{"task": "passkey"}, {"task": "passkey", "samples": 5}])
    with pytest.raises(ConfigError, match=r"tasks\.1: duplicate label 'passkey'"):
        parse_sweep(data)
    data["tasks"][1]["label"] = "passkey5"
    assert [t.label for t in parse_sweep(data).tasks] == ["passkey", "passkey5"]


def test_relative_paths_resolve_beside_the_yaml(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    import shutil

    shutil.copytree(tiny_model_dir, tmp_path / "m")
    monkeypatch.chdir("/")
    config = write(tmp_path, sweep_dict(tmp_path, models=[{"name": "m", "path": "m"}]))
    assert run_cli("validate", str(config)).exit_code == 0
