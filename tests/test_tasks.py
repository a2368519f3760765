"""Passkey and NIAH: sample building, scoring and what each sample records.

The model here is a stand-in that reads the needle back out of the prompt (or answers wrongly),
so the task logic is checked on its own; the real-model path is covered in test_runner.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from longctx_eval_tasks.niah import Niah, NiahParams, depth_grid
from longctx_eval_tasks.passkey import Passkey, PasskeyParams

from longctx_eval.lm import Generation
from longctx_eval.prompts import PromptFormat
from longctx_eval.retrieval import lenient_score, strict_score
from longctx_eval.stats import wilson_interval
from longctx_eval.task import CellContext, TaskEnv

ENV = TaskEnv(resolve_path=Path)


class ReadsTheNeedle:
    """Answers with whatever number the needle line holds (a perfect retriever)."""

    def __init__(self, tokenizer: Any, pattern: str, wrong: bool = False, extra_digit_every: int = 0) -> None:
        self.tok, self.pattern, self.wrong = tokenizer, re.compile(pattern), wrong
        self.extra_digit_every = extra_digit_every  # every k-th answer gets its last digit repeated
        self.prompts: list[list[int]] = []

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        self.prompts = [list(p) for p in prompts]
        outs = []
        for i, p in enumerate(prompts):
            found = self.pattern.search(self.tok.decode(p))
            answer = "0" if self.wrong or found is None else found.group(1)
            if self.extra_digit_every and i % self.extra_digit_every == 0:
                answer += answer[-1]  # "115252" for 11525: what dynamic NTK's cache quirk produced
            outs.append(Generation(f" {answer}.", []))
        return outs

    def token_nll(self, sequences: Any, score_from: Any = None) -> Any:
        raise AssertionError("retrieval tasks do not score likelihoods")


def ctx(tokenizer: Any, lm: Any, length: int, seed: int = 11) -> CellContext:
    return CellContext(
        length=length, seed=seed, lm=lm, prompts=PromptFormat(tokenizer), length_dependent=False
    )


def test_passkey_records_every_sample(tokenizer: Any):
    lm = ReadsTheNeedle(tokenizer, r"The pass key is (\d+)\.")
    task = Passkey(PasskeyParams(samples=8), ENV)
    out = task.run(ctx(tokenizer, lm, 300))
    assert out.metrics.accuracy == 1.0 and out.metrics.n == 8
    low, high = wilson_interval(8, 8)
    assert (out.metrics.ci_low, out.metrics.ci_high) == pytest.approx((low, high))
    for i, s in enumerate(out.samples):
        assert s.n_prompt_tokens == 300 == len(lm.prompts[i])
        assert i / 8 <= s.depth_requested < (i + 1) / 8  # stratified depth bins
        assert s.depth == s.needle_token_offset / 300
        needle = tokenizer.decode(
            lm.prompts[i][s.needle_token_offset : s.needle_token_offset + s.needle_tokens]
        )
        assert needle.strip() == f"The pass key is {s.target}. Remember it. {s.target} is the pass key."
        assert len(s.target) == 5 and s.score == 1.0 and s.output == f" {s.target}."
        assert s.retokenizes_exactly is True


def test_passkey_wrong_answers_score_zero(tokenizer: Any):
    out = Passkey(PasskeyParams(samples=4), ENV).run(
        ctx(tokenizer, ReadsTheNeedle(tokenizer, r"(\d+)", wrong=True), 200)
    )
    assert out.metrics.accuracy == 0.0
    assert out.metrics.ci_high == pytest.approx(wilson_interval(0, 4)[1])


@pytest.mark.parametrize(
    ("output", "score"),
    [
        (" 52791.", 1.0),
        ("52791", 1.0),
        (" 5279", 0.0),
        (" 527910", 0.0),
        (" 12 52791", 0.0),
        ("", 0.0),
        (" key: 52791 ok", 1.0),
    ],
)
def test_passkey_first_integer_rule(output: str, score: float):
    assert strict_score(output, "52791") == score


def test_same_seed_same_samples_other_seed_other_samples(tokenizer: Any):
    lm = ReadsTheNeedle(tokenizer, r"The pass key is (\d+)\.")
    task = Passkey(PasskeyParams(samples=5), ENV)
    a = [s.target for s in task.run(ctx(tokenizer, lm, 200, seed=1)).samples]
    b = [s.target for s in task.run(ctx(tokenizer, lm, 200, seed=1)).samples]
    c = [s.target for s in task.run(ctx(tokenizer, lm, 200, seed=2)).samples]
    assert a == b and a != c


def test_niah_grid_and_scoring(tokenizer: Any):
    lm = ReadsTheNeedle(tokenizer, r"special magic numbers for [\w-]+ is: (\d+)\.")
    out = Niah(NiahParams(depths=3, samples_per_depth=2), ENV).run(ctx(tokenizer, lm, 400))
    assert out.metrics.accuracy == 1.0 and out.metrics.n == 6
    assert [s.depth_requested for s in out.samples] == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    depths = [s.depth for s in out.samples]
    # Keys differ in token count, so real depths differ a little within one requested depth.
    assert max(depths[:2]) < 0.4 < min(depths[2:4]) <= max(depths[2:4]) < 0.7 < min(depths[4:])
    for s in out.samples:
        assert len(s.target) == 7 and re.fullmatch(r"[a-z]+-[a-z]+", s.key)


@pytest.mark.parametrize(("output", "score"), [(" 4081273.", 1.0), ("it is 4081273", 1.0), (" 408127", 0.0)])
def test_niah_substring_rule(output: str, score: float):
    assert lenient_score(output, "4081273") == score


@pytest.mark.parametrize(
    ("output", "strict", "lenient"),
    [(" 4081273.", 1, 1), (" 40812733.", 0, 1), (" 1 4081273", 0, 1), ("4081273 ", 1, 1), (" 408127", 0, 0)],
)
def test_both_rules_on_hand_made_outputs(output: str, strict: float, lenient: float):
    assert (strict_score(output, "4081273"), lenient_score(output, "4081273")) == (strict, lenient)
    # A word target: the first word of the answer, case-insensitive.
    assert strict_score(" Harbor, then", "harbor") == 1.0 and strict_score(" the harbor", "harbor") == 0.0


@pytest.mark.parametrize(("task", "default"), [("passkey", "strict"), ("niah", "lenient")])
def test_extra_digits_score_by_each_rule_and_show_as_a_gap(
    tmp_path: Path, tokenizer: Any, task: str, default: str
):
    from longctx_eval.records import CellRecord
    from longctx_eval.reporting import Results, build_summary
    from longctx_eval.reporting.tables import markdown

    pattern = (
        r"The pass key is (\d+)\." if task == "passkey" else r"special magic numbers for [\w-]+ is: (\d+)\."
    )
    lm = ReadsTheNeedle(tokenizer, pattern, extra_digit_every=2)  # half the answers carry an extra digit
    cls, params = (Passkey, PasskeyParams(samples=6)) if task == "passkey" else (Niah, NiahParams(depths=3))
    out = cls(params, ENV).run(ctx(tokenizer, lm, 400))
    assert [s.score_strict for s in out.samples] == [0.0, 1.0] * 3
    assert [s.score_lenient for s in out.samples] == [1.0] * 6
    m = out.metrics
    assert (m.accuracy_strict, m.accuracy_lenient, m.scoring) == (0.5, 1.0, default)
    assert m.accuracy == (0.5 if default == "strict" else 1.0)
    other = cls(params.model_copy(update={"scoring": "lenient" if default == "strict" else "strict"}), ENV)
    assert other.run(ctx(tokenizer, lm, 400)).metrics.accuracy == (1.0 if default == "strict" else 0.5)
    record = CellRecord.model_validate(
        {"cell_id": "c", "model": "m", "method": "none", "method_label": "none", "task": task, "length": 400}
        | {"status": "ok", "metrics": m, "original_context": 512}
    )
    summary = build_summary(Results([record]))
    (gap,) = summary.scoring_gaps
    assert (gap.strict, gap.lenient, gap.gap) == (0.5, 1.0, 0.5)
    md = markdown(summary)
    assert "## Lenient minus strict" in md and "| m | " + task + " | none | +0.50 (0.50 → 1.00) |" in md
    assert f"accuracy ({default}:" in md


def test_depth_grids():
    assert depth_grid(5, "linear") == [0.0, 0.25, 0.5, 0.75, 1.0]
    # The original NIAH test's logistic spacing (crowded near both ends), ends exact.
    assert depth_grid(5, "sigmoid") == pytest.approx([0.0, 0.07586, 0.5, 0.92414, 1.0], abs=1e-5)
    assert depth_grid([10, 90], "linear") == [0.1, 0.9]


REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.mark.skipif(not (REFERENCE / "tokenizer.json").exists(), reason="no shipped reference tokenizer")
def test_niah_min_length_fits_every_key():
    # With this tokenizer the longest key in characters is 6 tokens shorter than the longest in
    # tokens: a length validated against the former failed some cells at run time.
    from longctx_eval_tasks.niah import niah_parts
    from transformers import AutoTokenizer

    from longctx_eval.haystack import Haystack, build_prompt
    from longctx_eval.keys import all_word_keys

    fmt = PromptFormat(AutoTokenizer.from_pretrained(REFERENCE))
    params = NiahParams()
    length = Niah(params, TaskEnv(resolve_path=Path)).min_length(fmt)
    noise = Haystack.noise()
    for key in all_word_keys():
        prompt = build_prompt(fmt, noise, niah_parts(params, key, "1234567"), length, 0.5)
        assert len(prompt.ids) == length
