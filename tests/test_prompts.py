"""Exact prompt lengths and needle placement, with byte-level BPE and SentencePiece-style tokenizers,
with and without a chat template."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from longctx_eval_tasks.niah import NiahParams
from longctx_eval_tasks.passkey import PasskeyParams
from transformers import PreTrainedTokenizerFast

from longctx_eval.haystack import Haystack, PromptParts, PromptTooShortError, build_prompt, fixed_tokens
from longctx_eval.prompts import PromptFormat, PromptFormatError

from .conftest import corpus

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def sentencepiece_like() -> Any:
    """A BPE tokenizer with SentencePiece's Metaspace handling of spaces (as Llama-2's)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=[c for c in string.printable if not c.isspace()] + ["\n", "▁"],
        show_progress=False,
    )
    tok.train_from_iterator([t + "\n" + t for t in corpus()], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.fixture(scope="module", params=["bpe", "sentencepiece"])
def tok(request: pytest.FixtureRequest, tokenizer: Any) -> Any:
    return tokenizer if request.param == "bpe" else sentencepiece_like()


def with_template(tokenizer: Any) -> Any:
    t = tokenizer.__class__(
        tokenizer_object=tokenizer.backend_tokenizer.__class__.from_str(tokenizer.backend_tokenizer.to_str())
    )
    t.bos_token, t.eos_token = tokenizer.bos_token, tokenizer.eos_token
    t.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    t.chat_template = CHATML
    return t


def passkey_parts(key: str = "52791") -> PromptParts:
    p = PasskeyParams()
    return PromptParts(p.instruction, p.needle.format(key=key), p.question, p.answer_prefix)


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat"])
def test_every_prompt_is_exactly_the_requested_length(tok: Any, chat: bool):
    t = with_template(tok) if chat else tok
    fmt = PromptFormat(t, chat_template=chat)
    parts = passkey_parts()
    fixed = fixed_tokens(fmt, parts)
    hay = Haystack.noise()
    for length in (fixed, fixed + 1, fixed + 2, 150, 333, 1000, 4097):
        for depth in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
            prompt = build_prompt(fmt, hay, parts, length, depth)
            assert len(prompt.ids) == length, (length, depth)
            # The needle's tokens are where the prompt says they are.
            needle = t.decode(
                prompt.ids[prompt.needle_token_offset : prompt.needle_token_offset + prompt.needle_tokens]
            )
            assert needle.strip() == parts.needle
            # It starts the prompt (template head or BOS), and ends on the answer prefix.
            assert prompt.ids[: len(fmt.prefix_ids)] == fmt.prefix_ids
            assert prompt.ids[-len(fmt.answer_ids(parts.answer_prefix)) :] == fmt.answer_ids(
                parts.answer_prefix
            )


def test_chat_template_tokens_count_toward_the_length(tokenizer: Any):
    plain = PromptFormat(tokenizer)
    chat = PromptFormat(with_template(tokenizer), chat_template=True)
    parts = passkey_parts()
    assert fixed_tokens(chat, parts) > fixed_tokens(plain, parts)
    prompt = build_prompt(chat, Haystack.noise(), parts, 300, 0.5)
    text = chat.tokenizer.decode(prompt.ids)
    assert text.startswith("<|im_start|>user\nThere is an important info")
    assert "<|im_end|>\n<|im_start|>assistant\nThe pass key is" in text and len(prompt.ids) == 300


def test_chat_template_missing_is_a_clear_error(tokenizer: Any):
    with pytest.raises(PromptFormatError, match="no chat template"):
        PromptFormat(tokenizer, chat_template=True)


def test_needle_sits_on_a_sentence_boundary_at_the_requested_depth(tokenizer: Any):
    fmt = PromptFormat(tokenizer)
    parts = passkey_parts()
    hay = Haystack.noise()
    length = 2000
    head = len(fmt.prefix_ids) + len(fmt.encode_first(parts.instruction))
    budget = length - fixed_tokens(fmt, parts)
    longest_sentence = max(len(fmt.encode(" " + s)) for s in ("The grass is green.", "There and back again."))
    for depth in (0.0, 0.1, 0.25, 0.5, 0.75, 0.99):
        prompt = build_prompt(fmt, hay, parts, length, depth)
        before = tokenizer.decode(prompt.ids[: prompt.needle_token_offset])
        assert before.endswith((".\n", "there.\n")), before[-40:]
        filler_before = prompt.needle_token_offset - head - 1  # minus the needle's newline
        assert depth * budget - longest_sentence - 1 <= filler_before <= depth * budget + 1
    at_end = build_prompt(fmt, hay, parts, length, 1.0)
    after = tokenizer.decode(at_end.ids[at_end.needle_token_offset + at_end.needle_tokens :])
    assert after.strip().startswith("What is the pass key?")  # depth 1: nothing between needle and question


def test_recorded_depth_is_the_token_offset_over_length(tokenizer: Any):
    fmt = PromptFormat(tokenizer)
    prompt = build_prompt(fmt, Haystack.noise(), passkey_parts(), 1000, 0.5)
    assert prompt.depth == prompt.needle_token_offset / 1000
    assert 0.4 < prompt.depth < 0.6


def test_prompts_retokenize_to_the_same_ids(tokenizer: Any):
    # Byte-level BPE never merges across whitespace, so pieces joined at spaces and newlines are
    # canonical. (The SentencePiece-style test tokenizer learned merges like ".\nThe" across our
    # joins; for such tokenizers the per-sample `retokenizes_exactly` flag says so.)
    tok = tokenizer
    fmt = PromptFormat(tok)
    for length in (200, 777):
        for depth in (0.0, 0.5, 1.0):
            prompt = build_prompt(fmt, Haystack.noise(), passkey_parts(), length, depth)
            if not prompt.cut_mid_word:
                assert fmt.retokenizes_exactly(prompt.ids)


def test_too_short_a_length_names_the_fixed_text(tokenizer: Any):
    fmt = PromptFormat(tokenizer)
    fixed = fixed_tokens(fmt, passkey_parts())
    with pytest.raises(PromptTooShortError, match=f"{fixed} tokens"):
        build_prompt(fmt, Haystack.noise(), passkey_parts(), fixed - 1, 0.5)


def test_text_haystack_keeps_its_sentences(tokenizer: Any):
    text = "Alpha beta gamma. Delta epsilon! Zeta eta theta? Iota kappa lambda mu. " * 40
    hay = Haystack(text, "greek")
    fmt = PromptFormat(tokenizer)
    n = NiahParams()
    parts = PromptParts(
        n.instruction,
        n.needle.format(key="calm-river", value="1234567"),
        n.question.format(key="calm-river"),
        n.answer_prefix.format(key="calm-river"),
    )
    for length in (400, 401, 402, 403):
        prompt = build_prompt(fmt, hay, parts, length, 0.5)
        assert len(prompt.ids) == length
        before = tokenizer.decode(prompt.ids[: prompt.needle_token_offset]).rstrip("\n")
        assert re.search(r"[.!?]$", before)
