"""The token sequences the analysis runs on: the first N tokens of the first K long-enough documents.

As the perplexity task reads them: documents through `longctx_eval.data.load_documents` (local
.txt/.jsonl/.json/.parquet or a hub dataset), each prefixed with the special tokens the tokenizer
puts before a plain text (BOS for Llama-style tokenizers) and cut at exactly N tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from longctx_eval.data import load_documents
from longctx_eval.prompts import PromptFormat


def leading_ids(tokenizer: Any) -> list[int]:
    """What the tokenizer puts before a text (BOS, or nothing)."""
    return list(PromptFormat(tokenizer).bos_ids)


def document_ids(
    tokenizer: Any,
    source: str,
    length: int,
    count: int,
    column: str = "text",
    split: str = "train",
    subset: str | None = None,
) -> list[tuple[int, list[int]]]:
    """(document index, its first `length` tokens) for the first `count` documents that long."""
    bos = leading_ids(tokenizer)
    out: list[tuple[int, list[int]]] = []
    for index, text in enumerate(load_documents(source, column, split, subset)):
        if len(out) == count:
            break
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if len(bos) + len(ids) >= length:
            out.append((index, bos + ids[: length - len(bos)]))
    return out


def shuffled(ids: list[int], keep: int, seed: int) -> list[int]:
    """The same tokens in a seeded random order, the first `keep` (BOS) left in place."""
    rest = np.array(ids[keep:])
    np.random.default_rng(seed).shuffle(rest)
    return ids[:keep] + [int(x) for x in rest]
