"""RULER's tasks: exact lengths with two tokenizers, recorded needle and document positions, RULER's
scoring rules, seeded samples, the prompt formats RULER documents, the `ruler` group, and sweeps
(the group's members and a user's own multi-key plugin) on a tiny model."""

from __future__ import annotations

import json
import random
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from longctx_eval_tasks import ruler as ruler_group
from longctx_eval_tasks.ruler_common import (
    RULER_DEPTHS,
    Episode,
    postprocess,
    string_match_all,
    string_match_part,
    zeta,
)
from longctx_eval_tasks.ruler_cwe import RulerCwe, RulerCweParams
from longctx_eval_tasks.ruler_fwe import RulerFwe, RulerFweParams
from longctx_eval_tasks.ruler_niah import RulerNiah, RulerNiahParams
from longctx_eval_tasks.ruler_qa import RulerQa, RulerQaParams
from longctx_eval_tasks.ruler_vt import RulerVt, RulerVtParams
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from longctx_eval.lm import Generation
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, TaskEnv

from .conftest import corpus, sweep_dict

ENV = TaskEnv(resolve_path=Path)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

# RULER's template strings as its scripts/data/synthetic/constants.py documents them (the task
# template, then the answer prefix it appends), written out here to compare against.
RULER_NIAH = (
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic "
    "{type_needle_v} for {query} mentioned in the provided text?",
    " The special magic {type_needle_v} for {query} mentioned in the provided text are",
)
RULER_NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
RULER_VT = (
    "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
    "Question: Find all variables that are assigned the value {query} in the text above.",
    " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are "
    "assigned the value {query}, they are: ",
)
RULER_CWE = (
    "Below is a numbered list of words. In these words, some appear more often than others. Memorize the "
    "ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?",
    " Answer: The top 10 words that appear most often in the list are:",
)
RULER_FWE = (
    "Read the following coded text and track the frequency of each coded word. Find the three most "
    "frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore "
    "the dots '....'. What are the three most frequently appeared words in the above coded text?",
    " Answer: According to the coded text above, the three most frequently appeared words are:",
)
RULER_QA = (
    "Answer the question based on the given documents. Only give me the answer and do not output any "
    "other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the "
    "given documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}",
    " Answer:",
)


def merging_bpe() -> Any:
    """A byte-level BPE whose merges cross spaces and join digits (no pre-tokenizer splits)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    rng = random.Random(3)
    numbers = [" ".join(str(rng.randint(0, 10**7)) for _ in range(30)) for _ in range(30)]
    text = [RULER_NIAH[0], RULER_NIAH[1], RULER_VT[0], RULER_VT[1], RULER_CWE[0], RULER_FWE[0], RULER_QA[0]]
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus()[:60] + numbers + text * 20, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", 0)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )


@pytest.fixture(scope="module", params=["bytes", "merging"])
def tok(request: pytest.FixtureRequest, tokenizer: Any) -> Any:
    return tokenizer if request.param == "bytes" else merging_bpe()


@pytest.fixture(scope="module")
def qa_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A nested SQuAD-2.0-style file (with unanswerable questions) and a HotpotQA-style JSONL."""
    rng = random.Random(0)
    words = "the river mountain quiet silver garden lantern harbor city king war year north".split()

    def para() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(25, 45))) + "."

    articles = []
    for a in range(4):
        paragraphs = []
        for p in range(3):
            answer = f"Zorbl{a}{p}"
            qas = [
                {"question": f"What is thing {a}{p}?", "answers": [{"text": answer}], "is_impossible": False},
                {"question": "Nothing?", "answers": [], "is_impossible": True},
            ]
            paragraphs.append({"context": f"{para()} Thing {a}{p} is {answer}.", "qas": qas})
        articles.append({"title": f"T{a}", "paragraphs": paragraphs})
    root = tmp_path_factory.mktemp("qa")
    (root / "squad.json").write_text(json.dumps({"version": "v2.0", "data": articles}))
    with (root / "hotpot.jsonl").open("w") as f:
        for q in range(6):
            context = [[f"Title{q}x{k}", [para(), " More."]] for k in range(6)]
            facts = [[f"Title{q}x2", 0], [f"Title{q}x4", 0]]
            row = {
                "question": f"Which {q}?",
                "answer": f"Title{q}x2",
                "context": context,
                "supporting_facts": facts,
            }
            f.write(json.dumps(row) + "\n")
    return {"squad": root / "squad.json", "hotpotqa": root / "hotpot.jsonl"}


def niah(**kw: Any) -> RulerNiah:
    return RulerNiah(RulerNiahParams(**kw), ENV)


NIAH_VARIANTS = {
    "single_1": {},
    "single_3": {"type_needle_v": "uuids"},
    "multikey_1": {"num_needle_k": 4},
    "multikey_2": {"haystack": "needle"},
    "multikey_3": {"haystack": "needle", "type_needle_k": "uuids", "type_needle_v": "uuids"},
    "multivalue": {"num_needle_v": 4},
    "multiquery": {"num_needle_q": 4},
}


def lengths_from(minimum: int) -> list[int]:
    return [minimum, minimum + 1, minimum + 7, 512]


def decode_at(tok: Any, ids: list[int], offset: int, n: int) -> str:
    return str(tok.decode(ids[offset : offset + n]))


@pytest.mark.parametrize("variant", list(NIAH_VARIANTS))
def test_niah_prompts_are_exact_and_needles_sit_where_recorded(tok: Any, variant: str):
    fmt = PromptFormat(tok)
    task = niah(**NIAH_VARIANTS[variant])
    for length in lengths_from(task.min_length(fmt)):
        e = task.episode(fmt, np.random.default_rng(length), length)
        assert len(e.ids) == length, (variant, length)
        needles = e.record["needles"]
        assert len(needles) == task.n_keys * task.params.num_needle_v
        for n in needles:
            text = decode_at(tok, e.ids, n["token_offset"], n["tokens"])
            assert (
                text
                == f"One of the special magic {task.params.type_needle_v} for {n['key']} is: {n['value']}."
            )
            assert (
                n["depth"] == n["token_offset"] / length and round(100 * n["depth_requested"]) in RULER_DEPTHS
            )
        asked = [n["value"] for n in needles if n["answer"]]
        assert (
            sorted(asked) == sorted(e.targets)
            and len(e.targets) == task.params.num_needle_q * task.params.num_needle_v
        )
        offsets = [n["token_offset"] for n in needles]
        assert offsets == sorted(offsets)  # needles go in depth order
        if variant.startswith("multikey_2") or variant.startswith("multikey_3"):
            text = tok.decode(e.ids)
            assert text.count("One of the special magic") > len(needles)  # a haystack of distractors
            for q in e.record["queries"]:  # never a distractor with an asked key
                assert text.count(f" for {q} is:") == 1


def test_vt_prompts_are_exact_and_statements_sit_where_recorded(tok: Any):
    fmt = PromptFormat(tok)
    for kw in ({"fewshot_length": 0}, {"num_chains": 2, "num_hops": 2}, {}):
        task = RulerVt(RulerVtParams(**kw), ENV)
        for length in [*lengths_from(task.min_length(fmt)), 2100]:
            e = task.episode(fmt, np.random.default_rng(length), length)
            assert len(e.ids) == length
            for n in e.record["needles"]:
                assert decode_at(tok, e.ids, n["token_offset"], n["tokens"]) == n["statement"]
            chain = [n["statement"] for n in e.record["needles"] if n["answer"]]
            # The asked chain: value to first name, then each name to the one before.
            assert chain[0] == f"VAR {e.targets[0]} = {e.record['value']}"
            assert chain[1:] == [f"VAR {b} = VAR {a}" for a, b in zip(e.targets, e.targets[1:], strict=False)]
            if kw.get("fewshot_length") == 0 or length // 4 < 150:
                assert e.record["example_tokens"] == 0
            if length == 2100 and "fewshot_length" not in kw:
                assert e.record["example_tokens"] == 500  # RULER's 500-token example, once it fits


def test_cwe_prompt_is_exact_and_common_words_are_most_frequent(tok: Any):
    fmt = PromptFormat(tok)
    short_below = RulerCwe(RulerCweParams(), ENV).min_length(fmt) + 50
    task = RulerCwe(RulerCweParams(short_below=short_below), ENV)
    long_min = task._shape_min(fmt, task.shape(fmt, 10**6))
    minimum = task.min_length(fmt)
    for length in [minimum, minimum + 3, short_below + 10, long_min, long_min + 5]:
        e = task.episode(fmt, np.random.default_rng(length), length)
        assert len(e.ids) == length
        main = tok.decode(e.ids).rsplit(RULER_CWE[0].split("\n")[0], 1)[1].split("\nQuestion:")[0]
        items = re.findall(r"(\d+)\. (\w+)", main)
        assert (
            [int(i) for i, _ in items]
            == list(range(1, len(items) + 1))
            == list(range(1, e.record["n_items"] + 1))
        )
        counts = {w: sum(1 for _, x in items if x == w) for _, w in items}
        freq_cw = 30 if length >= long_min else 6  # RULER's long shape from short_below, once it fits
        assert e.record["freq_cw"] == freq_cw
        assert all(counts[w] == freq_cw for w in e.targets) and len(e.targets) == 10
        assert max(c for w, c in counts.items() if w not in e.targets) < freq_cw
        assert e.record["padding_tokens"] <= 12


def test_fwe_prompt_is_exact_and_answer_is_ranks_two_to_four(tok: Any):
    fmt = PromptFormat(tok)
    task = RulerFwe(RulerFweParams(), ENV)
    for length in lengths_from(task.min_length(fmt)):
        e = task.episode(fmt, np.random.default_rng(length), length)
        assert len(e.ids) == length
        words = tok.decode(e.ids).split("coded words.", 1)[1].split("\nQuestion:")[0].split()
        counts = {w: words.count(w) for w in set(words)}
        assert max(counts, key=lambda w: counts[w]) == "..."
        ranked = sorted((w for w in counts if w != "..."), key=lambda w: -counts[w])
        assert [counts[w] for w in e.targets] == e.record["answer_counts"]
        assert (
            set(ranked[:3]) == set(e.targets) or counts[e.targets[2]] == counts[ranked[3]]
        )  # a tie at the floor


@pytest.mark.parametrize("kind", ["squad", "hotpotqa"])
def test_qa_prompt_is_exact_and_gold_documents_sit_where_recorded(
    tok: Any, kind: str, qa_files: dict[str, Path]
):
    fmt = PromptFormat(tok)
    task = RulerQa(RulerQaParams(dataset=str(qa_files[kind]), samples=3), ENV)
    data = task.data()
    assert data.format == kind
    assert len(data.items) == (12 if kind == "squad" else 6)  # SQuAD's unanswerable questions skipped
    for length in [task.min_length(fmt), task.min_length(fmt) + 2, 700, 1500]:
        for item in task.items():
            e = task.episode(fmt, item, np.random.default_rng(length), length)
            assert len(e.ids) == length
            gold = e.record["gold_documents"]
            assert len(gold) == len(item.gold)
            for g in gold:
                text = decode_at(tok, e.ids, g["token_offset"], g["tokens"])
                assert text.startswith(f"Document {g['document']}:\n")
                assert text.split("\n", 1)[1] in {data.docs[i] for i in item.gold}
            assert e.targets == list(item.answers)
            numbers = [int(n) for n in re.findall(r"Document (\d+):\n", tok.decode(e.ids))]
            assert numbers == list(range(1, e.record["n_documents"] + 1))


@pytest.mark.parametrize(
    ("output", "refs", "ruler_all", "ruler_part"),
    [
        (" 4081273.", ["4081273"], 1.0, 1.0),
        ("The numbers are 1234 and 99", ["1234", "5678"], 0.5, 1.0),
        ("nothing", ["1234", "5678"], 0.0, 0.0),
        ("QKZTA mwjoe", ["qkzta", "MWJOE", "XBRNU"], 2 / 3, 1.0),
        ("\x00 a\x07b ", ["a\nb"], 1.0, 1.0),  # control characters become newlines, as RULER's postprocess
        ("", ["x"], 0.0, 0.0),
    ],
)
def test_scoring_follows_rulers_rules(output: str, refs: list[str], ruler_all: float, ruler_part: float):
    # RULER's eval/synthetic/constants.py per sample: all = found / len(refs), part = max(found).
    pred = re.sub(r"[\x00-\x1f]", "\n", output.strip()).strip().lower()
    found = [1.0 if r.lower() in pred else 0.0 for r in refs]
    assert string_match_all(output, refs) == pytest.approx(sum(found) / len(refs)) == pytest.approx(ruler_all)
    assert string_match_part(output, refs) == max(found) == ruler_part
    assert postprocess(output) == re.sub(r"[\x00-\x1f]", "\n", output.strip()).strip()


def test_zeta_and_rulers_depth_grid():
    assert zeta(2.0) == pytest.approx(np.pi**2 / 6, rel=1e-12)
    assert zeta(4.0) == pytest.approx(np.pi**4 / 90, rel=1e-12)
    assert (
        len(RULER_DEPTHS) == 40 and RULER_DEPTHS[0] == 0 and RULER_DEPTHS[-1] == 100 and RULER_DEPTHS[1] == 3
    )


class Echo:
    """A stand-in model: answers with a given function of the prompt text, records the prompts."""

    def __init__(self, tok: Any, answer: Any) -> None:
        self.tok, self.answer = tok, answer
        self.prompts: list[list[int]] = []

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        self.prompts = [list(p) for p in prompts]
        return [Generation(self.answer(self.tok.decode(p)), []) for p in prompts]

    def token_nll(self, sequences: Any, score_from: Any = None) -> Any:
        raise AssertionError("RULER tasks only generate")


def cell(tok: Any, lm: Any, length: int, seed: int = 5) -> CellContext:
    return CellContext(length=length, seed=seed, lm=lm, prompts=PromptFormat(tok), length_dependent=False)


def tasks_for_seed_test(qa_files: dict[str, Path]) -> list[Any]:
    return [
        niah(num_needle_k=4, samples=3),
        niah(haystack="needle", samples=3),
        RulerVt(RulerVtParams(samples=3), ENV),
        RulerFwe(RulerFweParams(samples=3), ENV),
        RulerCwe(RulerCweParams(samples=2), ENV),
        RulerQa(RulerQaParams(dataset=str(qa_files["squad"]), samples=3), ENV),
    ]


def test_same_seed_same_samples_across_methods(tokenizer: Any, qa_files: dict[str, Path]):
    for task in tasks_for_seed_test(qa_files):
        length = max(task.min_length(PromptFormat(tokenizer)) + 50, 600)
        a, b, c = (
            Echo(tokenizer, lambda t: "x"),
            Echo(tokenizer, lambda t: "y"),
            Echo(tokenizer, lambda t: "x"),
        )
        ra = task.run(cell(tokenizer, a, length))
        rb = task.run(cell(tokenizer, b, length))  # another "method": the same prompts and targets
        task.run(cell(tokenizer, c, length, seed=6))
        assert a.prompts == b.prompts and [s.targets for s in ra.samples] == [s.targets for s in rb.samples]
        assert a.prompts != c.prompts
        for s in ra.samples:
            task.Sample.model_validate(s)  # the shape the worker checks before writing a cell
            assert s.n_prompt_tokens == length


def test_a_perfect_reader_scores_one(tokenizer: Any, qa_files: dict[str, Path]):
    def read_needles(text: str) -> str:
        query = re.search(r"What (?:is|are all) the special magic \w+ for (.+?) mentioned", text)
        assert query is not None
        found = []
        for key in re.split(r", and |, ", query.group(1)):
            found += re.findall(rf"for {re.escape(key)} is: ([\w-]+)\.", text)
        return " ".join(found)

    for kw in NIAH_VARIANTS.values():
        out = niah(samples=3, **kw).run(cell(tokenizer, Echo(tokenizer, read_needles), 700))
        assert out.metrics.accuracy == 1.0 and out.metrics.n_empty == 0
    wrong = niah(samples=2, num_needle_v=4).run(cell(tokenizer, Echo(tokenizer, lambda t: " 0"), 400))
    assert wrong.metrics.accuracy == 0.0 and all(s.score == 0.0 for s in wrong.samples)


def test_generated_samples_follow_rulers_documented_formats(tokenizer: Any, qa_files: dict[str, Path]):
    fmt = PromptFormat(tokenizer)

    def text_of(e: Episode) -> str:
        return str(tokenizer.decode(e.ids))

    def template_regex(template: tuple[str, str], **fill: str) -> re.Pattern[str]:
        parts = re.split(r"(\{\w+\})", template[0] + template[1])
        out = ""
        for part in parts:
            name = part[1:-1] if part.startswith("{") else None
            out += fill.get(name, f"(?P<{name}>.*)") if name else re.escape(part)
        return re.compile(out, re.S)

    # niah_single_1: RULER's template in the singular, one needle line, query and answer prefix.
    e = niah().episode(fmt, np.random.default_rng(0), 400)
    singular = tuple(
        t.replace("Some", "A")
        .replace("are all", "is")
        .replace("are", "is")
        .replace("{type_needle_v}", "number")
        for t in RULER_NIAH
    )
    m = template_regex((singular[0], singular[1]), query=re.escape(e.record["queries"][0]))
    match = m.fullmatch(text_of(e).removeprefix("<|bos|>"))
    assert match is not None
    needle = RULER_NEEDLE.format(type_needle_v="numbers", key=e.record["queries"][0], value=e.targets[0])
    assert f"\n{needle}\n" in match.group("context") or match.group("context").endswith("\n" + needle)
    assert (
        "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"
        in text_of(e)
    )
    # niah_multiquery: the plural template, the keys joined as RULER joins them.
    e = niah(num_needle_q=4).episode(fmt, np.random.default_rng(1), 600)
    q = e.record["queries"]
    joined = f"{q[0]}, {q[1]}, {q[2]}, and {q[3]}"
    plural = tuple(t.replace("{type_needle_v}", "numbers") for t in RULER_NIAH)
    assert template_regex(plural, query=re.escape(joined)).fullmatch(text_of(e).removeprefix("<|bos|>"))
    # vt: RULER's template and "VAR X = 12345" / "VAR Y = VAR X" lines (without the example).
    e = RulerVt(RulerVtParams(fewshot_length=0), ENV).episode(fmt, np.random.default_rng(2), 500)
    m = template_regex(RULER_VT, query=e.record["value"], num_v="5").fullmatch(
        text_of(e).removeprefix("<|bos|>")
    )
    assert m is not None and re.search(
        rf"\nVAR {e.targets[0]} = {e.record['value']}\n", m.group("context") + "\n"
    )
    # cwe: after the worked example, the task's own template, items "i. word".
    e = RulerCwe(RulerCweParams(), ENV).episode(fmt, np.random.default_rng(3), 1400)
    text = text_of(e)
    example_answer = re.search(r"are: (1\. \w+(?: \d+\. \w+){9})\n", text)
    assert example_answer is not None  # the example ends with its answer, as RULER writes it
    main = text[example_answer.end() :]
    m = template_regex(RULER_CWE).fullmatch(main.replace("\n\n", "\n").replace("\n\n", "\n"))
    assert m is not None and re.fullmatch(r"1\. \w+( \d+\. \w+)+\n*", m.group("context"))
    # fwe
    e = RulerFwe(RulerFweParams(), ENV).episode(fmt, np.random.default_rng(4), 700)
    m = template_regex(RULER_FWE).fullmatch(text_of(e).removeprefix("<|bos|>"))
    assert m is not None and set(m.group("context").split()) >= {"...", *e.targets}
    # qa: documents "Document i:\n…" separated by blank lines.
    task = RulerQa(RulerQaParams(dataset=str(qa_files["squad"]), samples=1), ENV)
    item = task.items()[0]
    e = task.episode(fmt, item, np.random.default_rng(5), 800)
    m = template_regex(RULER_QA, query=re.escape(item.question)).fullmatch(text_of(e).removeprefix("<|bos|>"))
    assert m is not None
    assert re.fullmatch(r"Document 1:\n.+?(\n\nDocument \d+:\n.+?)*\n*", m.group("context"), re.S)


def test_the_ruler_group_expands_into_rulers_thirteen_tasks(qa_files: dict[str, Path]):
    from longctx_eval.config import ConfigError, parse_sweep

    base = {
        "name": "g",
        "models": [{"name": "m", "path": "x"}],
        "methods": ["none"],
        "lengths": [256],
    }
    with pytest.warns(UserWarning, match="qa_1, qa_2 left out"):
        config = parse_sweep({**base, "tasks": [{"task": "ruler", "samples": 4}]})
    labels = [t.label for t in config.tasks]
    assert labels == list(ruler_group.MEMBERS)[:11]
    assert all(NAME.match(x) for x in labels) and {t.group for t in config.tasks} == {"ruler"}
    assert {t.weight for t in config.tasks} == {1.0} and {t.params.samples for t in config.tasks} == {4}
    by = {t.label: t for t in config.tasks}
    assert by["niah_multikey_1"].params.num_needle_k == 4 and by["niah_multikey_1"].params.haystack == "noise"
    assert (
        by["niah_multikey_3"].params.type_needle_k == "uuids"
        and by["niah_multikey_3"].params.haystack == "needle"
    )
    assert by["niah_multiquery"].params.num_needle_q == 4 and by["niah_multivalue"].params.num_needle_v == 4
    assert (by["vt"].params.num_chains, by["vt"].params.num_hops) == (1, 4)
    assert (by["cwe"].params.freq_cw, by["cwe"].params.freq_ucw, by["fwe"].params.alpha) == (30, 3, 2.0)
    essay = qa_files["squad"].parent / "essay.txt"
    essay.write_text("An essay. It has sentences.\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = parse_sweep(
            {
                **base,
                "tasks": [
                    {
                        "task": "ruler",
                        "label": "R",
                        "essay_haystack": str(essay),
                        "squad": str(qa_files["squad"]),
                        "hotpotqa": str(qa_files["hotpotqa"]),
                        "exclude": ["cwe"],
                    }
                ],
            }
        )
    labels = [t.label for t in config.tasks]
    assert len(labels) == 12 and labels[-2:] == ["R.qa_1", "R.qa_2"] and "R.cwe" not in labels
    by = {t.label: t for t in config.tasks}
    assert (
        by["R.niah_single_2"].params.haystack == str(essay)
        and by["R.niah_single_1"].params.haystack == "noise"
    )
    assert (
        by["R.qa_2"].params.dataset == str(qa_files["hotpotqa"]) and by["R.qa_2"].params.format == "hotpotqa"
    )
    with pytest.raises(ConfigError) as err:
        parse_sweep({**base, "tasks": [{"task": "ruler", "exclude": ["nope"]}]})
    assert err.value.problems[0][0].startswith("tasks.0.exclude")


def read_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_the_group_runs_through_a_sweep(tmp_path: Path, tiny_model_dir: Path, qa_files: dict[str, Path]):
    from longctx_eval.cli import app

    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "yarn", "factors": [4]}],
        lengths=[400],
        tasks=[
            {
                "task": "ruler",
                "samples": 2,
                "max_new_tokens": 8,
                "squad": str(qa_files["squad"]),
                "hotpotqa": str(qa_files["hotpotqa"]),
                "exclude": ["cwe"],  # its worked example alone is longer than 400 tokens
            }
        ],
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--output", str(out), "--progress", "plain"])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 2 * 12 and all(r["status"] == "ok" for r in records)
    prompts: dict[str, list[Any]] = {}
    for r in records:
        assert r["task_group"] == "ruler" and r["metrics"]["n"] == 2
        samples = [
            json.loads(x) for x in (out / "samples" / f"{r['cell_id']}.jsonl").read_text().splitlines()
        ]
        assert all(s["n_prompt_tokens"] == 400 for s in samples)
        targets = [s["targets"] for s in samples]
        assert prompts.setdefault(r["task"], targets) == targets  # both methods got the same samples


USER_PLUGIN = '''
"""Multi-key needle: several keys hidden, one asked for (a user's plugin)."""
import numpy as np
from pydantic import Field

from longctx_eval.haystack import Haystack, fit_needles
from longctx_eval.keys import random_digits, word_key
from longctx_eval.records import AnsweredSample, Metrics
from longctx_eval.retrieval import RetrievalParams, accuracy_metrics
from longctx_eval.task import CellOutcome, task


class MultiKeySample(AnsweredSample):  # what one sample records: read back as this class
    needle_token_offsets: list[int]
    depths: list[float]

class MultiKeyParams(RetrievalParams):
    samples: int = Field(10, description="trials per cell")
    keys: int = Field(4, description="needles hidden; one is asked for")


@task
class MultiKey:
    name = "multikey_needle"
    version = "1"
    Params = MultiKeyParams
    Sample = MultiKeySample

    def __init__(self, params, env):
        self.params = params

    def min_length(self, prompts):
        return 40 + 20 * self.params.keys

    def new_tokens(self):
        return self.params.max_new_tokens

    def run(self, ctx):
        rng, fmt, samples = np.random.default_rng(ctx.seed), ctx.prompts, []
        for i in range(self.params.samples):
            pairs = [(word_key(rng), random_digits(rng, 7)) for _ in range(self.params.keys)]
            key, value = pairs[int(rng.integers(len(pairs)))]
            needles = [f"The magic number for {k} is {v}." for k, v in pairs]
            depths = sorted(float(d) for d in rng.random(len(pairs)))
            head = fmt.prefix_ids + fmt.encode_first("Remember the magic numbers.")
            tail = fmt.encode(f"\\nWhat is the magic number for {key}?") + fmt.answer_ids("It is")
            prompt = fit_needles(fmt, Haystack.noise(), head, needles, depths, tail, ctx.length)
            out = ctx.lm.generate([prompt.ids], self.params.max_new_tokens)[0].text
            samples.append(MultiKeySample(index=i, target=value, output=out, score=float(value in out),
                           needle_token_offsets=prompt.needle_token_offsets, depths=prompt.depths))
        return CellOutcome(Metrics(**accuracy_metrics(samples)), samples)
'''


def test_a_users_multikey_plugin_runs_through_a_sweep(tmp_path: Path, tiny_model_dir: Path):
    from longctx_eval.cli import app

    plugin = tmp_path / "plugins" / "multikey.py"
    plugin.parent.mkdir()
    plugin.write_text(USER_PLUGIN)
    assert len(USER_PLUGIN.strip().splitlines()) <= 50
    data = sweep_dict(
        tiny_model_dir,
        lengths=[160, 300],
        tasks=[{"task": "multikey_needle", "samples": 3, "max_new_tokens": 4}],
        tasks_path=[str(plugin.parent)],
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--output", str(out), "--progress", "plain"])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 4 and all(r["status"] == "ok" and r["metrics"]["n"] == 3 for r in records)
    for r in records:
        for line in (out / "samples" / f"{r['cell_id']}.jsonl").read_text().splitlines():
            s = json.loads(line)
            assert len(s["needle_token_offsets"]) == 4 and s["depths"] == sorted(s["depths"])
    from longctx_eval import load_results

    results = load_results(out)  # the plugin is registered in this process: its own class reads them
    assert {type(s).__name__ for r in results.records for s in results.samples(r)} == {"MultiKeySample"}


def ruler_protocol_config(qa_files: dict[str, Path], **extra: Any) -> Any:
    from longctx_eval.config import parse_sweep

    essay = qa_files["squad"].parent / "essays.txt"
    essay.write_text(" ".join(f"An essay sentence number {i} about founders and cities." for i in range(400)))
    entry = {
        "task": "ruler",
        "protocol": "ruler",
        "samples": 2,
        "essay_haystack": str(essay),
        "squad": str(qa_files["squad"]),
        "hotpotqa": str(qa_files["hotpotqa"]),
        **extra,
    }
    base = {"name": "g", "models": [{"name": "m", "path": "x"}], "methods": ["none"], "lengths": [256]}
    return parse_sweep({**base, "tasks": [entry]})


def test_under_protocol_ruler_prompt_plus_budget_is_the_length_for_all_thirteen(qa_files: dict[str, Path]):
    from longctx_eval.task import TASKS

    tok = merging_bpe()
    fmt = PromptFormat(tok)
    config = ruler_protocol_config(qa_files)
    assert [t.label for t in config.tasks] == list(ruler_group.MEMBERS)  # all 13, nothing replaced
    seen = {}
    for choice in config.tasks:
        assert choice.params.protocol == "ruler"
        task = TASKS.get(choice.task)(choice.params, ENV)
        budget = choice.params.max_new_tokens
        length = max(task.min_length(fmt) + 9, 1500 if choice.task == "ruler_cwe" else 0)
        lm = Echo(tok, lambda t: "x")
        out = task.run(cell(tok, lm, length))
        assert lm.prompts and all(len(p) + budget == length for p in lm.prompts), choice.label
        assert all(s.n_prompt_tokens + budget == length for s in out.samples)
        seen[choice.label] = budget
    # RULER's budgets (scripts/data/synthetic/constants.py): NIAH 128, VT 30, CWE 120, FWE 50, QA 32.
    assert seen["niah_single_1"] == 128 and seen["vt"] == 30 and seen["cwe"] == 120
    assert seen["fwe"] == 50 and seen["qa_1"] == seen["qa_2"] == 32


def test_under_protocol_ruler_the_sample_count_is_rulers_unless_given(qa_files: dict[str, Path]):
    from longctx_eval.config import parse_sweep

    config = ruler_protocol_config(qa_files)  # samples: 2 given, kept
    assert {t.params.samples for t in config.tasks} == {2}

    base = {"name": "g", "models": [{"name": "m", "path": "x"}], "methods": ["none"], "lengths": [256]}
    essay = qa_files["squad"].parent / "essays.txt"
    unset = parse_sweep(
        {
            **base,
            "tasks": [
                {
                    "task": "ruler",
                    "protocol": "ruler",
                    "essay_haystack": str(essay),
                    "squad": str(qa_files["squad"]),
                    "hotpotqa": str(qa_files["hotpotqa"]),
                }
            ],
        }
    )
    assert {t.params.samples for t in unset.tasks} == {500}


def test_under_protocol_ruler_qa_documents_keep_one_layout_per_cell(
    tokenizer: Any, qa_files: dict[str, Path]
):
    def gold_slots(protocol: str | None) -> list[int]:
        task = RulerQa(RulerQaParams(dataset=str(qa_files["hotpotqa"]), samples=6, protocol=protocol), ENV)
        out = task.run(cell(tokenizer, Echo(tokenizer, lambda t: "x"), 900))
        return [(s.n_documents, s.gold_documents[0].document) for s in out.samples]

    ruler = gold_slots("ruler")
    # RULER shuffles with random.Random(seed) afresh for every sample: same count, same slots.
    by_count: dict[int, set[int]] = {}
    for n, slot in ruler:
        by_count.setdefault(n, set()).add(slot)
    assert all(len(slots) == 1 for slots in by_count.values())
    assert len({slot for _, slot in gold_slots(None)}) > 1  # the project's: a layout per sample


def test_protocol_ruler_without_its_data_exits_2_naming_what_is_missing(tmp_path: Path, tiny_model_dir: Path):
    from longctx_eval.cli import app

    data = sweep_dict(tiny_model_dir, tasks=[{"task": "ruler", "protocol": "ruler"}])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    for missing in ("essay_haystack", "squad", "hotpotqa", "Paul Graham", "datasets"):
        assert missing in result.output, missing
    assert "Traceback" not in result.output
    # Given the essays but not the QA data: only the QA data are named.
    essay = tmp_path / "essays.txt"
    essay.write_text("An essay.\n")
    data = sweep_dict(
        tiny_model_dir, tasks=[{"task": "ruler", "protocol": "ruler", "essay_haystack": str(essay)}]
    )
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "squad" in result.output and "essay_haystack" not in result.output


def test_the_essay_fallback_warns():
    from longctx_eval.config import parse_sweep

    base = {"name": "g", "models": [{"name": "m", "path": "x"}], "methods": ["none"], "lengths": [256]}
    with pytest.warns(UserWarning, match="niah_single_2, niah_single_3, niah_multikey_1, .* noise haystack"):
        parse_sweep({**base, "tasks": [{"task": "ruler", "exclude": ["qa_1", "qa_2"]}]})


def test_under_protocol_ruler_cwe_draws_english_words_past_the_list(tokenizer: Any, tmp_path: Path):
    from longctx_eval_tasks.ruler_words import WORDS

    words = tmp_path / "english_words.json"
    extra = [f"{w}zz" for w in ("alpha", "bravo", "charlie", "delta")] * 1
    words.write_text(json.dumps({str(i): w for i, w in enumerate(extra)}))
    task = RulerCwe(RulerCweParams(samples=1, protocol="ruler", english_words=str(words)), ENV)
    got = task._beyond(np.random.default_rng(0), 10, set())
    assert sorted(got) == sorted(extra)
    coded = RulerCwe(RulerCweParams(samples=1), ENV)._beyond(np.random.default_rng(0), 10, set())
    assert coded and all(len(w) == 6 and w not in WORDS for w in coded)  # the project's own strings
    bare = RulerCwe(RulerCweParams(samples=1, protocol="ruler"), ENV)
    assert bare._beyond(np.random.default_rng(0), 10, set()) == []
