"""Sweeps that outgrow one process: a real local Ray cluster, shards, SIGTERM, concurrent writers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from longctx_eval.config import parse_sweep
from longctx_eval.plan import make_plan
from longctx_eval.shard import Shard, parse_shard, shard_cells
from longctx_eval.store import ResultStore, read_records

from .conftest import PLUGINS, sweep_dict

pytestmark = pytest.mark.slow  # Ray clusters and subprocess sweeps: --full


def grid(tmp_path: Path, model_dir: Path, docs_file: Path, **probe: Any) -> dict[str, Any]:
    return sweep_dict(
        model_dir,
        methods=["none", {"method": "pi", "factors": [2]}, {"method": "yarn", "factors": [4]}],
        tasks_path=[str(PLUGINS)],
        tasks=[
            {"task": "passkey", "samples": 2},
            {"task": "probe", **probe},
            {"task": "perplexity", "dataset": str(docs_file), "documents": 2},
        ],
    )


def write(tmp_path: Path, data: dict[str, Any], name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


CLI = [sys.executable, "-m", "longctx_eval.cli", "run", "--progress", "plain"]


def run_cli(config: Path, out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, str(config), "--output", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=check,
    )


def comparable(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], tuple[str, dict[str, Any]]]:
    """By grid position (the probe task's settings, e.g. its sleep, change its cell ids)."""
    latest = {r.cell_id: r for r in records}
    assert len(latest) == len(records), "a cell was recorded twice"
    return {
        (r.task, r.method_label, r.length): (
            r.status,
            {k: v for k, v in r.metrics.model_dump().items() if isinstance(v, (int, float))},
        )
        for r in latest.values()
    }


def assert_same_results(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    ca, cb = comparable(a), comparable(b)
    assert ca.keys() == cb.keys()
    for cid in ca:
        assert ca[cid][0] == cb[cid][0] == "ok", (cid, ca[cid][0], cb[cid][0])
        assert ca[cid][1].keys() == cb[cid][1].keys()
        for k, v in cb[cid][1].items():
            assert ca[cid][1][k] == pytest.approx(v, rel=1e-5), (cid, k)


@pytest.fixture(scope="module")
def local_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, docs_file: Path
) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("local")
    run_cli(write(tmp, grid(tmp, tiny_model_dir, docs_file)), tmp / "out")
    return read_records(tmp / "out")


# -- shards ------------------------------------------------------------------------------------


def test_shards_partition_the_grid_exactly_once(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    plan = make_plan(parse_sweep(grid(tmp_path, tiny_model_dir, docs_file)))
    for n in (1, 2, 3, 4, 7, 50):
        parts = [shard_cells(plan.cells, Shard(k, n)) for k in range(n)]
        ids = [c.cell_id for p in parts for c in p]
        assert sorted(ids) == sorted(c.cell_id for c in plan.cells)
        sizes = [len(p) for p in parts]
        if n <= 3:  # whole (model, method) groups per shard, balanced
            assert max(sizes) - min(sizes) <= 6
            for p in parts:
                assert len({c.group for c in p} & {c.group for q in parts if q is not p for c in q}) == 0
    assert parse_shard("2/3") == Shard(2, 3)
    for bad in ("3/3", "1/0", "a/b", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_three_shards_merge_to_the_unsharded_run(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path, local_run: list[dict[str, Any]]
):
    config = write(tmp_path, grid(tmp_path, tiny_model_dir, docs_file))
    # Three concurrent jobs writing one shared directory (a Slurm array on a shared file system) ...
    shared = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [*CLI, str(config), "--output", str(shared), "--shard", f"{k}/3"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read() if p.stderr else ""
    records = read_records(shared)
    assert len(records) == len(local_run)  # each cell exactly once
    assert_same_results(records, local_run)
    manifest = json.loads((shared / "manifest.json").read_text())
    assert sorted(r["shard"] for r in manifest["runs"]) == ["0/3", "1/3", "2/3"]
    # ... and three jobs with their own directories, merged by `compare`.
    dirs = [tmp_path / f"s{k}" for k in range(3)]
    for k, d in enumerate(dirs):
        run_cli(config, d, "--shard", f"{k}/3")
    merged = tmp_path / "merged"
    out = subprocess.run(
        [sys.executable, "-m", "longctx_eval.cli", "compare", *map(str, dirs), "--output", str(merged)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "merged 3 directories" in out.stdout
    assert_same_results(read_records(merged), local_run)


# -- signals -----------------------------------------------------------------------------------


def wait_for_records(path: Path, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{path} never reached {n} lines")


def test_sigterm_mid_cell_then_resume(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path, local_run: list[dict[str, Any]]
):
    config = write(tmp_path, grid(tmp_path, tiny_model_dir, docs_file, sleep_s=1.5))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, str(config), "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_records(out / "records.jsonl", 2)  # passkey 128, passkey 256 done: probe 128 is running
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert (
        "stopped by SIGTERM" in err
        and "run the same command again to resume" in err
        and "Traceback" not in err
        and "done in" not in err  # the plain progress does not claim a finished run
    )
    lines = (out / "records.jsonl").read_text().splitlines()
    assert all(json.loads(line)["status"] == "ok" for line in lines)  # no torn line, nothing half-done
    assert 2 <= len(lines) < len(local_run)
    run_cli(config, out)
    assert len(read_records(out)) == len(local_run)
    assert_same_results(read_records(out), local_run)


# -- concurrent writers ------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from longctx_eval.records import CellRecord
from longctx_eval.store import ResultStore
store = ResultStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    fields = {"model": "m", "method": "none", "method_label": "none", "task": "t", "length": 1}
    record = {"cell_id": f"{sys.argv[2]}-{i}", "status": "ok", "metrics": {"pad": "x" * 20000}, **fields}
    store.write_cell(CellRecord.model_validate(record), None)
"""


def test_concurrent_writers_never_interleave(tmp_path: Path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"w{k}", "60"]) for k in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = read_records(tmp_path)  # would warn on any corrupt line
    assert len(records) == 240 and len({r.cell_id for r in records}) == 240
    assert ResultStore(tmp_path).finished_ids() == {r.cell_id for r in records}


# -- ray ---------------------------------------------------------------------------------------

ray = pytest.importorskip("ray", reason="the Ray executor tests need Ray: pip install -e '.[ray]'")


def ray_grid(tmp_path: Path, model_dir: Path, docs_file: Path, **probe: Any) -> dict[str, Any]:
    data = grid(tmp_path, model_dir, docs_file, **probe)
    data["executor"] = {"kind": "ray", "num_workers": 2, "cpus_per_worker": 1, "max_retries": 2}
    return data


def test_ray_executor_gives_the_local_executors_records(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path, local_run: list[dict[str, Any]]
):
    out = tmp_path / "out"
    result = run_cli(write(tmp_path, ray_grid(tmp_path, tiny_model_dir, docs_file)), out)
    assert "ray: 2 workers" in result.stderr
    records = read_records(out)
    assert len(records) == len(local_run)
    assert_same_results(records, local_run)


def test_a_ray_worker_killed_mid_sweep_costs_nothing(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path, local_run: list[dict[str, Any]]
):
    marker = tmp_path / "died"
    data = ray_grid(tmp_path, tiny_model_dir, docs_file, die_at=256, marker=str(marker))
    out = tmp_path / "out"
    result = run_cli(write(tmp_path, data), out)
    assert marker.read_text() == "1", "the worker should have been killed once"
    assert "worker died" in result.stderr
    records = read_records(out)
    assert len(records) == len(local_run)
    assert_same_results(records, local_run)


def test_ray_gives_up_after_max_retries(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    data = sweep_dict(
        tiny_model_dir,
        methods=["none"],
        lengths=[128, 256],
        tasks_path=[str(PLUGINS)],
        tasks=[{"task": "probe", "die_at": 256, "die_times": 99, "marker": str(tmp_path / "deaths")}],
        executor={"kind": "ray", "num_workers": 1, "max_retries": 1},
    )
    out = tmp_path / "out"
    result = run_cli(write(tmp_path, data), out, check=False)
    assert result.returncode == 1, result.stderr
    records = {r.length: r for r in read_records(out)}
    assert records[128].status == "ok"
    assert (
        records[256].status == "failed"
        and "worker died" in records[256].error
        and "gave up" in records[256].error
    )
    assert (tmp_path / "deaths").read_text() == "2"  # the first try and one retry
