"""Method plugins: a method written in one file, found through `methods_path:` (or the
LONGCTX_EVAL_METHODS_PATH variable / the `longctx_eval.methods` entry points), run like a built-in.

The live rotary frequencies are checked against the plugin's formula written again here, and the
backend's outputs against a direct transformers forward given those frequencies by hand.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

from longctx_eval import api
from longctx_eval.cli import app
from longctx_eval.config import ConfigError, load_sweep, parse_sweep
from longctx_eval.rope import METHODS, ScalingSpec, read_rope_base
from longctx_eval.store import ResultStore, read_records

from .conftest import sweep_dict

PLUGINS = Path(__file__).parent / "plugins"
# A directory of its own: tests/plugins is a tasks_path of other tests, which would register it too.
RESONANCE = PLUGINS / "methods" / "resonance.py"
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"

# A method no library has: the slower half of the pairs divided by the factor, the rest kept, and
# cos/sin multiplied by `gain`.
HALVE_LOW = '''
from pydantic import Field

from longctx_eval.rope import Frequencies, MethodParams, RopeBase, rope_method


class Params(MethodParams):
    gain: float = Field(1.0, gt=0, description="attention factor")


@rope_method("halve_low", Params)
def halve_low(base: RopeBase, factor: float, params: Params, length: int | None) -> Frequencies:
    """Slow half of the pairs divided by the factor"""
    theta = [base.rope_theta ** (-2 * i / base.rotary_dim) for i in range(base.n_pairs)]
    half = base.n_pairs // 2
    return Frequencies([t if i < half else t / factor for i, t in enumerate(theta)], params.gain)
'''


@pytest.fixture(autouse=True, scope="module")
def forget_plugins() -> Any:
    """The plugins these tests register are unregistered (and their modules forgotten) after them,
    so that other test files see the built-in methods only, whatever the order."""
    import sys

    before, modules = set(METHODS.names()), set(sys.modules)
    yield
    for name in set(METHODS.names()) - before:
        METHODS._items.pop(name)
    for module in set(sys.modules) - modules:
        if module.startswith("longctx_eval_user_plugins."):
            del sys.modules[module]


def halve_low_formula(config: Any, factor: float) -> torch.Tensor:
    """The plugin's formula, from the model config (what a direct forward is given)."""
    d = config.head_dim
    theta = config.rope_parameters["rope_theta"]
    inv = torch.tensor([theta ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    inv[d // 4 :] /= factor
    return inv.to(torch.float32)


def write_plugin(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("methods")
    write_plugin(directory, "halve_low", HALVE_LOW)
    return directory


@pytest.fixture(scope="module")
def sweep(tiny_model_dir: Path, plugin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small sweep: a built-in named as yarn@2, the plugin named with its factor and a gain."""
    tmp = tmp_path_factory.mktemp("plugin_sweep")
    config = sweep_dict(
        tiny_model_dir,
        methods=["none", "yarn@2", {"method": "halve_low@2", "gain": 1.25}],
        methods_path=[str(plugin_dir)],
        lengths=[128],
        tasks=[{"task": "passkey", "samples": 2, "max_new_tokens": 4}],
    )
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp / "out"
    summary = api.run(path, out, progress="none")
    return {"summary": summary, "out": out, "path": path}


def test_a_plugin_in_methods_path_and_yarn_at_4_run_like_built_ins(sweep: dict[str, Any]):
    records = {r.method_label: r for r in read_records(sweep["out"])}
    assert set(records) == {"none", "yarn@2", "halve_low(gain=1.25)@2"}
    assert all(r.status == "ok" for r in records.values()), [r.error for r in records.values()]
    plugin = records["halve_low(gain=1.25)@2"]
    assert plugin.method == "halve_low" and plugin.factor == 2.0
    # The report lists it beside the built-ins.
    board = (sweep["out"] / "leaderboard.md").read_text()
    assert "halve_low(gain=1.25)@2" in board and "yarn@2" in board
    # compare (and report) take a method@factor label as the reference of paired differences.
    api.compare([sweep["out"]], sweep["out"].parent / "cmp", {"against": "yarn@2"})
    merged = (sweep["out"].parent / "cmp" / "leaderboard.md").read_text()
    assert "Paired differences against yarn@2" in merged


def test_yarn_at_4_in_a_yaml_file_is_yarn_with_factor_4(tmp_path: Path, tiny_model_dir: Path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sweep_dict(tiny_model_dir, methods=["yarn@4", {"method": "pi@auto"}])))
    config = load_sweep(path)
    assert [(m.method, m.factors) for m in config.methods] == [("yarn", (4.0,)), ("pi", "auto")]
    plan = api.validate(path)
    assert {c.spec.label() for c in plan.cells} >= {"yarn@4", "pi@auto"}


@pytest.mark.parametrize(
    ("entry", "where", "message"),
    [
        ("yarn@x", "methods.0.method", "NAME@FACTOR"),
        ({"method": "yarn@4", "factors": [2]}, "methods.0.factors", "not both"),
        ("none@2", "methods.0.factors", "takes no factors"),
        ("yarn@0.5", "methods.0.factors.0", ">= 1"),
    ],
)
def test_method_at_factor_errors_name_the_field(tiny_model_dir: Path, entry: Any, where: str, message: str):
    with pytest.raises(ConfigError) as info:
        parse_sweep(sweep_dict(tiny_model_dir, methods=[entry]))
    assert any(loc == where and message in msg for loc, msg in info.value.problems), info.value.problems


def test_live_rotary_frequencies_and_outputs_equal_a_direct_forward(
    sweep: dict[str, Any], tiny_model_dir: Path
):
    from transformers import AutoModelForCausalLM

    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.rope.frequencies import rotary_modules

    plan = api.validate(sweep["path"])
    cell = next(c for c in plan.cells if c.spec.method == "halve_low")
    backend = HFBackend(HFConfig(dtype="float32", device="cpu"))
    backend.load(ModelEntry(name="tiny", path=str(tiny_model_dir)), str(tiny_model_dir))
    lm = backend.apply(cell.setting, 64)
    expected = halve_low_formula(backend.config, 2.0)
    (_, live), *_ = rotary_modules(lm.torch_model)
    assert torch.equal(live.inv_freq, expected)
    assert live.attention_scaling == 1.25

    # A direct forward: the model as saved, its rotary buffer and attention factor set by hand.
    direct = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    (_, rotary), *_ = rotary_modules(direct)
    assert not torch.equal(rotary.inv_freq, expected)  # the saved model's own rope differs
    rotary.inv_freq = expected.clone()
    rotary.original_inv_freq = expected.clone()
    rotary.attention_scaling = 1.25
    ids = torch.randint(3, 200, (1, 100), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = direct(ids).logits[0].double().log_softmax(-1)
    want = -logits[torch.arange(99), ids[0, 1:]]
    got = lm.token_nll([ids[0].tolist()])[0]
    assert got == pytest.approx(want.numpy(), rel=1e-5, abs=1e-5)
    # Greedy decoding, token by token from the direct model.
    seq = ids
    with torch.no_grad():
        for _ in range(6):
            seq = torch.cat([seq, direct(seq).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    generated = lm.generate([ids[0].tolist()], 6)[0].token_ids
    eos = backend.tokenizer.eos_token_id
    direct_tokens = seq[0, 100:].tolist()
    direct_tokens = direct_tokens[: direct_tokens.index(eos)] if eos in direct_tokens else direct_tokens
    assert generated == direct_tokens


def test_a_plugins_source_and_settings_are_in_the_cell_id(tiny_model_dir: Path, tmp_path: Path):
    calls: list[int] = []

    def ids(gain: float, text: str) -> set[str]:
        calls.append(1)
        directory = tmp_path / f"m{len(calls)}"  # a new file each time, as another checkout's
        write_plugin(directory, "halve_low_id", text.replace('"halve_low"', '"halve_low_id"'))
        config = sweep_dict(
            tiny_model_dir,
            methods=[{"method": "halve_low_id@2", "gain": gain}],
            methods_path=[str(directory)],
        )
        METHODS._items.pop("halve_low_id", None)  # the same name from another file, as in a new process
        return {c.cell_id for c in api.validate(config).cells}

    first = ids(1.0, HALVE_LOW)
    assert ids(1.0, HALVE_LOW) == first  # the same source and settings: the same cells
    assert ids(1.5, HALVE_LOW).isdisjoint(first)
    assert ids(1.0, HALVE_LOW + "\n# edited\n").isdisjoint(first)


BAD = {
    "raises": ("raise RuntimeError('no idea')", "raised RuntimeError: no idea"),
    "short": ("return Frequencies(theta[:-1])", "returned 15 frequencies; the model has 16 rotary pairs"),
    "nan": ("return Frequencies([math.nan] + theta[1:])", "non-finite frequencies at pairs 0"),
    "zero": ("return Frequencies(theta[:-1] + [0.0])", "zero or negative frequencies at pairs 15"),
    "attention": ("return Frequencies(theta, -1.0)", "attention factor -1.0"),
}


def bad_plugin(name: str, body: str) -> str:
    return f'''
import math
from longctx_eval.rope import Frequencies, rope_method

@rope_method("{name}")
def bad(base, factor, params, length):
    theta = base.base_inv_freq()
    {body}
'''


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_plugin_exits_2_at_validate_naming_its_file(kind: str, tmp_path: Path, tiny_model_dir: Path):
    body, reason = BAD[kind]
    name = f"bad_{kind}"
    file = write_plugin(tmp_path / "p", name, bad_plugin(name, body))
    config = sweep_dict(tiny_model_dir, methods=[f"{name}@2"], methods_path=[str(file)])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert reason in result.output and str(file.resolve()) in result.output, result.output
    assert "Traceback" not in result.output


def test_a_length_dependent_plugin_is_asked_per_length_and_fails_only_its_bad_cells(
    tmp_path: Path, tiny_model_dir: Path
):
    """Asked at max(length, L) by transformers' dynamic update; NaN beyond 100 tokens fails those
    cells (the reason names the file) and the sweep goes on."""
    file = write_plugin(
        tmp_path / "p",
        "by_length",
        """
        import math
        from longctx_eval.rope import Frequencies, rope_method

        @rope_method("by_length", length_dependent=True)
        def by_length(base, factor, params, length):
            scale = length / base.original_context
            if length > 100:
                return Frequencies([math.nan] * base.n_pairs)
            return Frequencies([t / scale for t in base.base_inv_freq()])
        """,
    )
    from longctx_eval.rope.frequencies import frequencies_at

    config = sweep_dict(
        tiny_model_dir,
        methods=["by_length@1"],
        methods_path=[str(file)],
        lengths=[90, 128],
        tasks=[{"task": "passkey", "samples": 2, "max_new_tokens": 4}],
    )
    plan = api.validate(config)
    cell = plan.cells[0]
    assert cell.setting.length_dependent
    base = cell.model.base
    from longctx_eval.rope.base import scaled_config

    scaled = scaled_config(
        cell.model.config, cell.setting.rope_parameters, cell.setting.max_position_embeddings
    )
    inv, _ = frequencies_at(scaled, 80)
    want = torch.tensor(base.base_inv_freq(), dtype=torch.float64) / (80 / base.original_context)
    assert torch.allclose(inv, want.float().double(), rtol=1e-6)
    summary = api.run(config, tmp_path / "out", progress="none")
    records = {r.length: r for r in read_records(tmp_path / "out")}
    assert summary.failed == 1
    assert records[90].status == "ok"
    assert records[128].status == "failed"
    assert "non-finite frequencies" in records[128].error and str(file.resolve()) in records[128].error


def test_a_length_dependent_plugin_is_refused_on_vllm(tmp_path: Path, tiny_model_dir: Path):
    from longctx_eval.backends.vllm_rope import engine_rope
    from longctx_eval.rope.plugins import MethodPluginError

    file = write_plugin(
        tmp_path / "p",
        "by_length_v",
        """
        from longctx_eval.rope import Frequencies, rope_method

        @rope_method("by_length_v", length_dependent=True)
        def by_length_v(base, factor, params, length):
            return Frequencies([t * base.original_context / length for t in base.base_inv_freq()])
        """,
    )
    config = sweep_dict(
        tiny_model_dir, backend={"kind": "vllm"}, methods=["by_length_v@2"], methods_path=[str(file)]
    )
    with pytest.raises(ConfigError) as info:
        api.validate(config)
    assert any(
        loc == "methods.0"
        and "vLLM serves one static set of frequencies" in msg
        and str(file.resolve()) in msg
        for loc, msg in info.value.problems
    ), info.value.problems
    base = read_rope_base(load_sweep_config_model(tiny_model_dir))
    with pytest.raises(MethodPluginError, match="run it on the hf backend"):
        engine_rope(ScalingSpec("by_length_v", 2.0).resolve(base), 200)


def load_sweep_config_model(directory: Path) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(directory)


def test_resonance_rounds_every_wavelength_of_yarn_and_keeps_its_temperature(monkeypatch: pytest.MonkeyPatch):
    from longctx_eval.rope.analysis import analyse
    from longctx_eval.rope.plugins import load_method_plugins

    load_method_plugins([RESONANCE])
    config = load_sweep_config_model(REFERENCE)
    base = read_rope_base(config)
    yarn = analyse(config, base, ScalingSpec("yarn", 4.0), 1024)
    res = analyse(config, base, ScalingSpec("resonance_yarn", 4.0), 1024)
    plain = analyse(config, base, ScalingSpec("resonance"), 1024)
    assert res.attention_factor == pytest.approx(0.1 * math.log(4) + 1)  # YaRN's temperature, kept
    for y, r in zip(yarn.pairs, res.pairs, strict=True):
        # Published rule: θ' = 2π / round(2π/θ), on YaRN's θ (float32 on the model, as transformers).
        assert r.wavelength_after == pytest.approx(round(y.wavelength_after), rel=1e-6)
    assert [round(p.wavelength_after) for p in plain.pairs[:4]] == [6, 8, 10, 12]  # 2π·1000^(2i/64), rounded
    assert res.label == "resonance_yarn@4" and plain.label == "resonance"


def test_ls_and_rope_show_a_plugin_like_a_built_in(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LONGCTX_EVAL_METHODS_PATH", str(RESONANCE))
    from longctx_eval.rope.plugins import load_method_plugins

    load_method_plugins()
    listing = CliRunner().invoke(app, ["ls", "-v"])
    assert listing.exit_code == 0, listing.output
    line = next(x for x in listing.output.splitlines() if x.strip().startswith("resonance_yarn"))
    assert "Resonance YaRN" in line and str((RESONANCE).resolve()) in line
    assert "beta_fast: default 32.0" in listing.output
    table = CliRunner().invoke(
        app, ["rope", "--model", str(REFERENCE), "--method", "resonance_yarn@4", "--json"]
    )
    assert table.exit_code == 0, table.output
    import json

    result = json.loads(table.output)
    assert result["label"] == "resonance_yarn@4" and result["factor"] == 4.0
    assert all(
        abs(p["wavelength_after"] - round(p["wavelength_after"])) < 1e-3 * p["wavelength_after"]
        for p in result["pairs"]
    )
    # method@factor for a built-in too, and the same as --factor.
    a = CliRunner().invoke(app, ["rope", "--model", str(REFERENCE), "--method", "yarn@4", "--json"])
    b = CliRunner().invoke(
        app, ["rope", "--model", str(REFERENCE), "--method", "yarn", "--factor", "4", "--json"]
    )
    assert a.exit_code == 0 and a.output == b.output


def test_vllm_overrides_carry_a_static_plugin_as_longrope_factors():
    """Pure translation: λ_i = θ_i/θ'_i against vLLM's own base b^(2i/d), short = long."""
    from longctx_eval.backends.vllm_rope import engine_limit, engine_rope
    from longctx_eval.rope.plugins import load_method_plugins, plugin_frequencies

    load_method_plugins([RESONANCE])
    base = read_rope_base(load_sweep_config_model(REFERENCE))
    setting = ScalingSpec("resonance_yarn", 4.0).resolve(base)
    assert engine_limit(setting) is None
    rope = engine_rope(setting, 1025)
    sent = rope.hf_overrides["rope_parameters"]
    assert sent["rope_type"] == "longrope" and sent["short_factor"] == sent["long_factor"]
    assert rope.hf_overrides["max_position_embeddings"] == 1025 and rope.max_model_len == 1025
    freqs = plugin_frequencies(setting.rope_parameters)
    assert sent["short_mscale"] == sent["long_mscale"] == pytest.approx(0.1 * math.log(4) + 1)
    for i, (lam, theta) in enumerate(zip(sent["short_factor"], freqs.inv_freq, strict=True)):
        assert 1 / (lam * 1000.0 ** (2 * i / 64)) == pytest.approx(theta, rel=1e-12)


@pytest.mark.slow  # importing vLLM takes ~10 s on 2 cores
@pytest.mark.vllm
def test_vllm_cos_sin_cache_equals_the_plugins_frequencies():
    """vLLM's own rotary module, built from the overrides an engine would get (no engine started)."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    from vllm.config import ModelConfig, VllmConfig, set_current_vllm_config
    from vllm.model_executor.layers.rotary_embedding import get_rope

    from longctx_eval.backends.vllm_rope import engine_rope
    from longctx_eval.rope.plugins import load_method_plugins, plugin_frequencies

    load_method_plugins([RESONANCE])
    base = read_rope_base(load_sweep_config_model(REFERENCE))
    setting = ScalingSpec("resonance_yarn", 4.0).resolve(base)
    rope = engine_rope(setting, 1025)
    vllm_config = VllmConfig(
        model_config=ModelConfig(model=str(REFERENCE), max_model_len=1025, hf_overrides=rope.hf_overrides)
    )
    with set_current_vllm_config(vllm_config):
        module = get_rope(
            64,
            max_position=rope.hf_overrides["max_position_embeddings"],
            rope_parameters=rope.hf_overrides["rope_parameters"],
            dtype=torch.float32,
        )
    freqs = plugin_frequencies(setting.rope_parameters)
    want = torch.tensor(freqs.inv_freq, dtype=torch.float64)
    got = module._compute_inv_freq(module.long_factor).double()
    torch.testing.assert_close(got, want, rtol=3e-7, atol=0)
    # The cache the engine indexes (long half: max_model_len > L), at every position.
    cache = module.long_short_cos_sin_cache[base.original_context :]
    assert cache.shape == (1025, 64)
    angles = torch.arange(1025, dtype=torch.float64)[:, None] * want[None, :]
    scale = freqs.attention_factor
    torch.testing.assert_close(cache[:, :32].double(), angles.cos() * scale, rtol=0, atol=2e-4)
    torch.testing.assert_close(cache[:, 32:].double(), angles.sin() * scale, rtol=0, atol=2e-4)


@pytest.mark.slow
@pytest.mark.vllm
def test_a_static_plugin_on_the_vllm_engine_gives_hfs_greedy_outputs(tmp_path: Path):
    """Resonance YaRN on the real vLLM (CPU) engine and on HF, reference model, at L and 2L."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    import subprocess
    import sys

    docs = REFERENCE.parents[1] / "data" / "reference_docs.jsonl"
    outs = {}
    for kind in ("hf", "vllm"):
        config = sweep_dict(
            REFERENCE,
            backend={"kind": kind, "dtype": "float32"},
            methods=["resonance_yarn@4"],
            methods_path=[str(RESONANCE)],
            lengths=[256, 512],
            tasks=[
                {"task": "passkey", "samples": 10, "max_new_tokens": 8},
                {"task": "perplexity", "dataset": str(docs), "documents": 2},
            ],
        )
        path = tmp_path / f"{kind}.yaml"
        path.write_text(yaml.safe_dump(config))
        outs[kind] = tmp_path / kind
        cmd = [
            sys.executable,
            "-m",
            "longctx_eval.cli",
            "run",
            str(path),
            "-o",
            str(outs[kind]),
            "--progress",
            "plain",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stderr[-3000:]
    hf = {(r.task, r.length): r for r in read_records(outs["hf"])}
    vl = {(r.task, r.length): r for r in read_records(outs["vllm"])}
    for n in (256, 512):
        assert hf[("passkey", n)].method_label == vl[("passkey", n)].method_label == "resonance_yarn@4"
        a = ResultStore(outs["hf"]).read_samples(hf[("passkey", n)].cell_id)
        b = ResultStore(outs["vllm"]).read_samples(vl[("passkey", n)].cell_id)
        assert [s.target for s in a] == [s.target for s in b]  # the same prompts
        assert [s.output for s in a] == [s.output for s in b], n
        assert vl[("perplexity", n)].metrics.ppl == pytest.approx(hf[("perplexity", n)].metrics.ppl, rel=0.01)
    # ... and they are real answers, not a broken model agreeing with itself.
    assert hf[("passkey", 512)].metrics.accuracy >= 0.8


def test_the_frequency_usage_analysis_takes_a_plugin(plugin_dir: Path, tiny_model_dir: Path, docs_file: Path):
    import json

    from longctx_eval.rope.plugins import load_method_plugins
    from longctx_eval.usage import analyze

    load_method_plugins([plugin_dir])
    result = analyze(
        str(tiny_model_dir), str(docs_file), 64, documents=1, shuffle=False, methods=[("halve_low", 2.0)]
    )
    text = json.dumps(result.to_json())
    assert text.count("halve_low@2") >= 3  # its attention, decay and out-of-distribution rows


def test_the_longrope_search_takes_a_plugin_as_a_seed():
    from transformers import LlamaConfig

    from longctx_eval.longrope_search.evolution import SearchSpace
    from longctx_eval.longrope_search.search import SearchError, seed_candidates
    from longctx_eval.rope.plugins import load_method_plugins

    load_method_plugins([RESONANCE])
    config = LlamaConfig(hidden_size=4096, num_attention_heads=32, max_position_embeddings=4096)
    base = read_rope_base(config)
    space = SearchSpace(64, 1.0, 10.0)
    seeds = seed_candidates(config, base, 8.0, space, ("resonance_yarn", "resonance_yarn@4"))
    assert list(seeds) == ["pi", "ntk", "yarn", "resonance_yarn@8", "resonance_yarn@4"]
    # θ_i / θ'_i of the plugin's own frequencies, on the search grid (monotone, steps of 0.01).
    theta = base.base_inv_freq()
    want = [
        t * round(2 * math.pi / y) / (2 * math.pi) for t, y in zip(theta, yarn_inv(base, 8.0), strict=True)
    ]
    assert seeds["resonance_yarn@8"] == space.repair(want)
    assert seeds["resonance_yarn@8"] != seeds["yarn"]
    with pytest.raises(SearchError, match="unknown method"):
        seed_candidates(config, base, 8.0, space, ("nope",))


def yarn_inv(base: Any, factor: float) -> list[float]:
    from longctx_eval.rope import builtin_frequencies

    return list(builtin_frequencies(base, "yarn", factor).inv_freq)


def test_the_docs_rows_are_the_report_of_the_committed_resonance_run(tmp_path: Path):
    """docs/method-plugins.md's measured rows come from `report` on results/examples/resonance."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(
        root / "results" / "examples" / "resonance",
        tmp_path / "r",
        ignore=shutil.ignore_patterns("leaderboard.*"),
    )
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "r"), "--no-pictures", "--against", "yarn@auto"]
    )
    assert result.exit_code == 0, result.output
    board = (tmp_path / "r" / "leaderboard.md").read_text()
    page = (root / "docs" / "method-plugins.md").read_text()
    rows = [
        line
        for line in page.split("Accuracy and perplexity:")[1].split("Resonance YaRN against")[0].splitlines()
        if line.startswith(("| passkey | ", "| niah | ", "| perplexity | "))
    ]
    assert len(rows) == 12
    for row in rows:
        task, method, *values = [cell.strip() for cell in row.strip().strip("|").split("|")]
        section = board.split(f"## {task} — ", 1)[1].split("\n## ", 1)[0]
        assert f"| reference | {method} | {' | '.join(values)}" in section, row
    paired = page.split("Resonance YaRN against YaRN, paired")[1].split("Resonance RoPE alone")[0]
    for line in paired.splitlines():
        if line.startswith(("| passkey", "| niah", "| perplexity")):
            task, values = line.split(" | ", 1)
            section = board.split("## Paired differences against yarn@auto", 1)[1].split(
                f"### {task[2:]}", 1
            )[1]
            assert f"| reference | resonance_yarn@auto | {values}" in section, line


def test_a_method_in_an_installed_package_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A distribution on sys.path (its .dist-info names the `longctx_eval.methods` entry point),
    found by importlib.metadata as pip would leave it, at the first lookup of a method name."""
    from longctx_eval.rope import plugins

    write_plugin(tmp_path / "ep_methods", "__init__", HALVE_LOW.replace('"halve_low"', '"halve_low_ep"'))
    info = tmp_path / "ep_methods-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-methods\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[longctx_eval.methods]\nhalve_low_ep = ep_methods\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_loaded_entry_points", False)
    plugins.load_method_plugins()
    method = METHODS.get("halve_low_ep")
    assert method.plugin and method.source == str((tmp_path / "ep_methods" / "__init__.py").resolve())


def test_built_ins_go_through_the_same_check_only_stopping_methods_may_give_zero(tiny_model_dir: Path):
    from longctx_eval.rope.plugins import MethodPluginError, check_frequencies

    base = read_rope_base(load_sweep_config_model(tiny_model_dir))
    stopped = [1.0] * (base.n_pairs - 2) + [0.0, 0.0]
    assert check_frequencies(stopped, 1.0, base, "method p_rope", allow_zero=True) == stopped
    with pytest.raises(
        MethodPluginError, match="method yarn@4 returned zero or negative frequencies at pairs 14, 15"
    ):
        check_frequencies(stopped, 1.0, base, "method yarn@4")
    assert METHODS.get("p_rope").stops_pairs and not METHODS.get("yarn").stops_pairs
