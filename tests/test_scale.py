"""Work outside the model grows linearly: planning on many models does a tokenizer's work once.

How long reports take as records grow (once a test here: 20k records within 25× the time of 1k,
about 25% above linear, too little headroom on shared cores) is measured side by side in
`benchmarks/report_scale.py` at 1k, 10k and 100k cells, never as a timed test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_niah_minimum_length_is_computed_once_per_tokenizer(
    tokenizer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Planning asks NIAH's minimum length of every model (about 8,000 tokenizer calls each): it
    is worked out once per tokenizer, kept for the process and in the cache directory."""
    import longctx_eval_tasks.niah as niah

    from longctx_eval.identity import JsonCache
    from longctx_eval.prompts import PromptFormat

    monkeypatch.setenv("LONGCTX_EVAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(JsonCache, "_instances", {})
    calls = []
    counted = niah.fixed_tokens
    monkeypatch.setattr(niah, "fixed_tokens", lambda *a: calls.append(1) or counted(*a))
    params = niah.NiahParams()
    first = niah.niah_min_length(params, PromptFormat(tokenizer))
    computed = len(calls)
    assert computed > 1000  # every key was tried
    assert niah.niah_min_length(params, PromptFormat(tokenizer)) == first  # another model, same tokenizer
    monkeypatch.setattr(JsonCache, "_instances", {})  # a new process: from the cache directory
    assert niah.niah_min_length(params, PromptFormat(tokenizer)) == first
    assert len(calls) == computed
    assert json.loads((tmp_path / "niah-min-length.json").read_text()) == {
        niah._min_length_key(params, PromptFormat(tokenizer)): first
    }
    # Other fixed text is another minimum, computed anew.
    longer = niah.NiahParams(question="Which is the special magic number for {key} in the long text above?")
    assert niah.niah_min_length(longer, PromptFormat(tokenizer)) > first
    assert len(calls) > computed
