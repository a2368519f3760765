"""RULER's question answering (`ruler_qa`): a question over its gold paragraphs among distractors.

Data (RULER's `qa.py`): a SQuAD-style or HotpotQA-style dataset, local (.json/.jsonl/.parquet) or
from the hub, read through `datasets`. Every distinct paragraph of the dataset is a document.
- SQuAD (RULER's qa_1; `squad_v2` rows, or the original nested dev-v2.0.json): the gold document
  is the question's paragraph; the preferred distractors are the other paragraphs of its article;
  unanswerable questions are skipped.
- HotpotQA (qa_2; `hotpot_qa` distractor rows, or hotpot_dev_distractor_v1.json): the gold
  documents are the supporting paragraphs ("Title\\nSentences…"); the preferred distractors are the
  question's other paragraphs (RULER takes all ten as the question's own; they come first here too,
  so every length that holds them all gets the same set).
Questions are taken in file order from `first_question`, the same at every length, as RULER does.
The gold documents, then the preferred distractors in random order, then random other documents
are added while they fit; everything is shuffled and numbered "Document i:". The length is exact:
the document that no longer fits whole is cut to the tokens left (a distractor, `cut_document`),
and the last few tokens a header cannot hold are newline tokens (`padding_tokens`). Each sample
records every gold document's number, token offset and depth.

Metric: RULER's string_match_part — 1 when any of the reference answers appears in the output
(case-insensitive); accuracy is the mean, with a Wilson 95% interval.

Example (SQuAD, length 4096): "Answer the question based on the given documents. Only give me the
answer and do not output any other words.\\n\\nThe following are given documents.\\n\\nDocument 1:\\n…
\\n\\nDocument 7:\\nThe Normans … in the 10th and 11th centuries …\\n\\nAnswer the question based on
the given documents. Only give me the answer and do not output any other words.\\n\\nQuestion: In what
century did the Normans first gain their separate identity? Answer:" → " 10th century" (score 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from longctx_eval.data import DatasetError, load_dataset, resolve_source
from longctx_eval.haystack import PromptTooShortError
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, TaskParamError, data_file_field, task

from .ruler_common import (
    Episode,
    RulerMetrics,
    RulerParams,
    RulerSample,
    SampleRow,
    budget_tokens,
    frame,
    padding,
    prompt_tokens,
    run_episodes,
)

QaFormat = Literal["auto", "squad", "hotpotqa"]


class RulerQaParams(RulerParams):
    dataset: str = data_file_field(
        description="SQuAD- or HotpotQA-style data: local .json/.jsonl/.parquet file or hub dataset id"
    )
    format: QaFormat = Field("auto", description="squad, hotpotqa, or auto (told by the columns)")
    split: str = Field("validation", description="split of a hub dataset")
    subset: str | None = Field(None, description="configuration of a hub dataset (hotpot_qa: distractor)")
    samples: PositiveInt = Field(20, description="questions per cell (RULER: 500, later 100)")
    first_question: NonNegativeInt = Field(0, description="index of the first question used (file order)")
    max_new_tokens: PositiveInt = Field(32, description="generation budget (RULER: 32)")
    instruction: str = Field(
        "Answer the question based on the given documents. Only give me the answer and do not output any "
        "other words.",
        description="first paragraph",
    )
    documents_intro: str = Field(
        "The following are given documents.", description="line before the documents"
    )
    question: str = Field(
        "Answer the question based on the given documents. Only give me the answer and do not output any "
        "other words.\n\nQuestion: {query}",
        description="after the documents; {query} filled",
    )
    answer_prefix: str = Field("Answer:", description="what the answer starts with")


class GoldDocument(SampleRow):
    """Where one document that holds the answer sits in the prompt."""

    document: int  # its number ("Document i:")
    token_offset: int  # the first token of its header
    tokens: int  # header and body
    depth: float  # token_offset / the prompt's length


class QaSample(RulerSample):
    question: str
    question_index: int  # in the dataset's answerable questions, in file order
    gold_documents: list[GoldDocument]  # in prompt order
    n_documents: int
    cut_document: bool  # the last distractor was cut to fill the length
    padding_tokens: int  # newline tokens after the documents
    dataset_format: str  # 'squad' or 'hotpotqa'


@dataclass(frozen=True)
class QaItem:
    question: str
    answers: tuple[str, ...]
    gold: tuple[int, ...]  # documents that hold the answer
    near: tuple[int, ...]  # distractors preferred over random ones (same article / same question)


@dataclass(frozen=True)
class QaData:
    items: tuple[QaItem, ...]
    docs: tuple[str, ...]
    format: str


def _rows(source: str, split: str, subset: str | None) -> list[dict[str, Any]]:
    """Every record of the dataset (QA needs whole records, not a text column)."""
    return list(load_dataset(source, split, subset))


def _squad_articles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as SQuAD articles {title, paragraphs: [{context, qas}]}, whichever layout was given."""
    if rows and "data" in rows[0]:  # the original nested file: {"version", "data": [articles]}
        return [a for r in rows for a in r["data"]]
    if rows and "paragraphs" in rows[0]:
        return rows
    by_title: dict[str, dict[str, dict[str, Any]]] = {}  # flat rows (hub squad_v2): one per question
    for r in rows:
        paragraphs = by_title.setdefault(str(r.get("title", "")), {})
        p = paragraphs.setdefault(r["context"], {"context": r["context"], "qas": []})
        answers = r["answers"]
        if isinstance(answers, dict):
            texts = answers["text"]
        else:
            texts = [a if isinstance(a, str) else a["text"] for a in answers]
        p["qas"].append({"question": r["question"], "answers": [{"text": t} for t in texts]})
    return [{"title": t, "paragraphs": list(ps.values())} for t, ps in by_title.items()]


def read_squad(rows: list[dict[str, Any]]) -> QaData:
    articles = _squad_articles(rows)
    docs = sorted({p["context"] for a in articles for p in a["paragraphs"]})
    index = {d: i for i, d in enumerate(docs)}
    items = []
    for a in articles:
        same = [index[p["context"]] for p in a["paragraphs"]]
        for p in a["paragraphs"]:
            gold = index[p["context"]]
            for qa in p["qas"]:
                answers = tuple(x["text"] for x in qa.get("answers") or [])
                if qa.get("is_impossible") or not answers:
                    continue  # SQuAD 2.0's unanswerable questions: RULER skips them too
                near = tuple(dict.fromkeys(i for i in same if i != gold))
                items.append(QaItem(qa["question"], answers, (gold,), near))
    return QaData(tuple(items), tuple(docs), "squad")


def _paragraphs(context: Any) -> list[tuple[str, list[str]]]:
    if isinstance(context, dict):  # hub layout: {"title": [...], "sentences": [[...], ...]}
        return list(zip(context["title"], context["sentences"], strict=True))
    return [(t, s) for t, s in context]


def _supporting(facts: Any) -> set[str]:
    if isinstance(facts, dict):
        return set(facts["title"])
    return {t for t, _ in facts}


def read_hotpotqa(rows: list[dict[str, Any]]) -> QaData:
    def doc(title: str, sentences: list[str]) -> str:
        return f"{title}\n{''.join(sentences)}"

    docs = sorted({doc(t, s) for r in rows for t, s in _paragraphs(r["context"])})
    index = {d: i for i, d in enumerate(docs)}
    items = []
    for r in rows:
        paragraphs = _paragraphs(r["context"])
        support = _supporting(r.get("supporting_facts") or [])
        gold = tuple(index[doc(t, s)] for t, s in paragraphs if t in support)
        near = tuple(index[doc(t, s)] for t, s in paragraphs if t not in support)
        if not gold:  # without supporting facts every paragraph of the question counts, as in RULER
            gold, near = gold + near, ()
        items.append(QaItem(r["question"], (r["answer"],), gold, near))
    return QaData(tuple(items), tuple(docs), "hotpotqa")


@lru_cache(maxsize=8)
def load_qa(source: str, split: str, subset: str | None, fmt: QaFormat) -> QaData:
    rows = _rows(source, split, subset)
    if not rows:
        raise DatasetError(f"dataset {source!r} has no records")
    kind = fmt
    if kind == "auto":
        first = rows[0]
        squad = "data" in first or "paragraphs" in first or isinstance(first.get("context"), str)
        kind = "squad" if squad else "hotpotqa"
    data = read_squad(rows) if kind == "squad" else read_hotpotqa(rows)
    if not data.items:
        raise DatasetError(f"dataset {source!r} has no answerable question")
    return data


class DocPieces:
    """Token ids of the documents' pieces under one format: separator, header, body, which add up."""

    def __init__(self, fmt: PromptFormat, docs: tuple[str, ...]) -> None:
        self.fmt, self.docs = fmt, docs
        self.sep = fmt.encode("\n\n")
        self._bodies: dict[int, list[int]] = {}
        self._headers = [0]

    def header(self, i: int) -> list[int]:
        return self.fmt.encode(f"Document {i}:")

    def body(self, d: int) -> list[int]:
        if d not in self._bodies:
            self._bodies[d] = self.fmt.encode("\n" + self.docs[d])
        return self._bodies[d]

    def headers_total(self, n: int) -> int:
        """Separators and headers of documents 1..n together."""
        while len(self._headers) <= n:
            self._headers.append(self._headers[-1] + len(self.sep) + len(self.header(len(self._headers))))
        return self._headers[n]


@task
class RulerQa:
    name = "ruler_qa"
    version = "1"
    Params = RulerQaParams
    Sample = QaSample
    Metrics = RulerMetrics

    def __init__(self, params: RulerQaParams, env: TaskEnv) -> None:
        self.params = params
        try:
            self.source = resolve_source(params.dataset, env.resolve_path)
        except DatasetError as exc:
            raise TaskParamError("dataset", str(exc)) from None
        self._pieces: dict[int, tuple[PromptFormat, DocPieces]] = {}

    def data(self) -> QaData:
        p = self.params
        return load_qa(self.source, p.split, p.subset, p.format)

    def items(self) -> list[QaItem]:
        p = self.params
        return list(self.data().items[p.first_question : p.first_question + p.samples])

    def _frame(self, fmt: PromptFormat, question: str) -> tuple[list[int], list[int]]:
        p = self.params
        instruction = p.instruction + "\n\n" + p.documents_intro
        # A blank line before the question: frame puts the newline, the question starts with another.
        return frame(fmt, instruction, "\n" + p.question.format(query=question), p.answer_prefix)

    def pieces(self, fmt: PromptFormat) -> DocPieces:
        """Document pieces under `fmt`, encoded once per format as documents get used (the format is
        kept with them, so its id cannot be reused by another)."""
        if id(fmt) not in self._pieces:
            self._pieces[id(fmt)] = (fmt, DocPieces(fmt, self.data().docs))
        return self._pieces[id(fmt)][1]

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def min_length(self, prompts: PromptFormat) -> int:
        # The questions a cell uses, each with its gold documents only.
        pieces = self.pieces(prompts)
        need = 0
        for item in self.items():
            head, tail = self._frame(prompts, item.question)
            gold = pieces.headers_total(len(item.gold)) + sum(len(pieces.body(d)) for d in item.gold)
            need = max(need, len(head) + len(tail) + gold)
        return need + budget_tokens(self.params.protocol, self.params.max_new_tokens)

    def episode(
        self,
        fmt: PromptFormat,
        item: QaItem,
        rng: np.random.Generator,
        length: int,
        layout_seed: int | None = None,
    ) -> Episode:
        """One question; its draws from `rng` are the same for every model and method. With
        `layout_seed` (protocol ruler) the documents are shuffled by a generator seeded afresh with
        it, as RULER's `random.Random(seed).shuffle`: one layout for every question of the cell
        that has as many documents (the gold paragraph at the same slot)."""
        pieces = self.pieces(fmt)
        head, tail = self._frame(fmt, item.question)
        budget = length - len(head) - len(tail)
        chosen = list(item.gold)
        body_cost = sum(len(pieces.body(d)) for d in chosen)
        if pieces.headers_total(len(chosen)) + body_cost > budget:
            raise PromptTooShortError(length, length - budget + pieces.headers_total(len(chosen)) + body_cost)
        cut: tuple[int, list[int]] | None = None
        for d in self._candidates(item, rng, len(pieces.docs)):
            room = budget - pieces.headers_total(len(chosen) + 1) - body_cost
            if len(pieces.body(d)) <= room:
                chosen.append(d)
                body_cost += len(pieces.body(d))
                continue
            if room > 0:  # the document that no longer fits whole fills the rest, cut
                cut = (d, pieces.body(d)[:room])
            break
        n = len(chosen) + (cut is not None)
        shuffle = rng if layout_seed is None else np.random.default_rng(layout_seed)
        order = [int(i) for i in shuffle.permutation(n)]
        entries = [(d, pieces.body(d)) for d in chosen] + ([cut] if cut is not None else [])
        ids = list(head)
        gold_rows = []
        for number, k in enumerate(order, start=1):
            d, body = entries[k]
            ids += pieces.sep
            offset = len(ids)
            ids += pieces.header(number) + body
            if k < len(item.gold):
                row = {"document": number, "token_offset": offset, "tokens": len(ids) - offset}
                gold_rows.append({**row, "depth": offset / length})
        pad = length - len(ids) - len(tail)
        ids += padding(fmt, pad) + tail
        record: dict[str, Any] = {
            "question": item.question,
            "gold_documents": sorted(gold_rows, key=lambda r: r["token_offset"]),
            "n_documents": n,
            "cut_document": cut is not None,
            "padding_tokens": pad,
            "dataset_format": self.data().format,
        }
        return Episode(ids, list(item.answers), record)

    @staticmethod
    def _candidates(item: QaItem, rng: np.random.Generator, n_docs: int) -> Iterator[int]:
        """Distractors in the order they are tried: the preferred ones, then random others (again and
        again if the dataset runs out, as RULER repeats its documents)."""
        near = [item.near[int(i)] for i in rng.permutation(len(item.near))]
        own = set(item.gold) | set(item.near)
        others = [int(i) for i in rng.permutation(n_docs) if int(i) not in own]
        yield from near
        if others:
            yield from itertools.cycle(others)

    def run(self, ctx: CellContext) -> CellOutcome:
        rng = np.random.default_rng(ctx.seed)
        p = self.params
        n = prompt_tokens(p.protocol, ctx.length, p.max_new_tokens)
        layout = ctx.seed if p.protocol == "ruler" else None
        episodes = []
        for i, item in enumerate(self.items()):
            e = self.episode(ctx.prompts, item, rng, n, layout)
            e.record["question_index"] = self.params.first_question + i
            episodes.append(e)
        return run_episodes(ctx, p, self.Sample, episodes, "part")
