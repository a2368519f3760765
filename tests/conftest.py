"""Shared fixtures: a tiny tokenizer and random Llama built on the spot (no hub), and documents."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest

# One torch thread that sleeps while it waits, before torch is imported (OpenMP reads both once):
# the tests' models are tiny, so a second thread gains little, and spinning threads of two test
# runs on the same cores take each other's time (benchmarks/README.md, "Two test runs at once").
# Set either variable to choose otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Content hashes of data files are cached under the user's cache directory; not the tests'.
os.environ.setdefault("LONGCTX_EVAL_CACHE_DIR", tempfile.mkdtemp(prefix="longctx-eval-cache-"))

PLUGINS = Path(__file__).resolve().parent / "plugins"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", help="also run the tests marked slow (what CI runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="slow: run with --full")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)  # task plugins the runner tests load


WORDS = (
    "the of and to in is was for on with as by at from that this which are be it an or not have has had "
    "river mountain quiet silver garden lantern harbor number magic special hidden text pass key remember"
).split()


def corpus() -> list[str]:
    from longctx_eval_tasks.niah import NiahParams
    from longctx_eval_tasks.passkey import PasskeyParams

    from longctx_eval.haystack import NOISE_SENTENCES

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(400)) for _ in range(20)]
    p, n = PasskeyParams(), NiahParams()
    texts += [" ".join(NOISE_SENTENCES)] * 20
    texts += [
        p.instruction,
        p.needle,
        p.question,
        p.answer_prefix,
        n.instruction,
        n.needle,
        n.question,
        n.answer_prefix,
    ] * 20
    return texts


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    from longctx_eval.tiny import train_tokenizer

    return train_tokenizer(corpus(), vocab_size=1000)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A seeded random 2-layer Llama (head_dim 32, the smallest the vLLM CPU engine takes),
    native context 64, saved in HF format."""
    from longctx_eval.tiny import save_tiny_model

    directory = tmp_path_factory.mktemp("tiny") / "model"
    return save_tiny_model(directory, tokenizer, seed=0, max_position_embeddings=64, heads=2, kv_heads=1)


@pytest.fixture(scope="session")
def docs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six documents of ~1500 words, one per line, plus a short one."""
    rng = random.Random(1)
    docs = [" ".join(rng.choice(WORDS) for _ in range(1500)) for _ in range(6)]
    docs.insert(2, "a short document")
    path = tmp_path_factory.mktemp("data") / "docs.txt"
    path.write_text("\n".join(docs) + "\n")
    return path


def sweep_dict(model_dir: Path, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "t",
        "seed": 7,
        "backend": {"kind": "hf", "dtype": "float32", "batch_size": 4},
        "models": [{"name": "tiny", "path": str(model_dir)}],
        "methods": ["none", {"method": "pi", "factors": [2]}],
        "lengths": [128, 256],
        "tasks": [{"task": "passkey", "samples": 3}],
    }
    base.update(overrides)
    return base
