"""How a model's prompts are framed: BOS, the chat template, and encoding pieces in context.

Prompts are assembled as token ids, piece by piece, and handed to the backends as ids: the length
a task asks for is the length the model sees, with BOS, template and answer prefix counted.

Each piece after the first is encoded *in context*, i.e. as it tokenizes after a newline, so that a
SentencePiece tokenizer does not insert its start-of-text marker in the middle of a prompt. Whether
the assembled ids are exactly what the tokenizer makes of the decoded text is checked and recorded
per sample (`retokenizes_exactly`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_ANCHOR = "\n"
_SENTINEL = "\u2063LONGCTX_CONTENT\u2063"


class PromptFormatError(ValueError):
    pass


class PromptFormat:
    """Framing of one model's prompts: prefix (BOS or template head), tail, and encoders."""

    def __init__(self, tokenizer: Any, chat_template: bool = False) -> None:
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self._encode_ctx = lru_cache(maxsize=200_000)(self._encode_in_context)
        self._anchor_ids = self._plain(_ANCHOR)
        self.bos_ids = self._leading_specials()  # what the tokenizer puts before a plain text
        if chat_template:
            if not getattr(tokenizer, "chat_template", None):
                raise PromptFormatError("chat_template is 'auto' but the tokenizer has no chat template")
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
            )
            if text.count(_SENTINEL) != 1:
                raise PromptFormatError("the chat template does not place the user message exactly once")
            head, tail = text.split(_SENTINEL)
            # Templates write their own BOS as text; it is parsed back into its special token here.
            self.prefix_ids = self._plain(head)
            self.tail_ids = self._plain(tail) if tail else []
            self._tail_ends_with_space = tail[-1:].isspace() if tail else False
        else:
            self.prefix_ids = self.bos_ids
            self.tail_ids = []
            self._tail_ends_with_space = False

    def _plain(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _leading_specials(self) -> list[int]:
        """The special tokens (BOS) the tokenizer puts before a text, if any."""
        with_specials = list(self.tokenizer("x", add_special_tokens=True)["input_ids"])
        without = self._plain("x")
        for i in range(len(with_specials) - len(without) + 1):
            if with_specials[i : i + len(without)] == without:
                return with_specials[:i]
        return []

    def _encode_in_context(self, text: str) -> tuple[int, ...]:
        ids = self._plain(_ANCHOR + text)
        n = len(self._anchor_ids)
        if ids[:n] == self._anchor_ids:
            return tuple(ids[n:])
        return tuple(self._plain(text))  # the anchor merged with the text: encode it alone

    def encode(self, text: str) -> list[int]:
        """Ids of a piece that follows other text (after a newline or a template head)."""
        return list(self._encode_ctx(text))

    def encode_first(self, text: str) -> list[int]:
        """Ids of the first piece of the user content."""
        return self.encode(text) if self.chat_template else self._plain(text)

    def answer_ids(self, answer_prefix: str) -> list[int]:
        """The answer prefix: after the question (no template) or opening the assistant turn."""
        if not answer_prefix:
            return []
        if self.chat_template and self._tail_ends_with_space:
            return self.encode(answer_prefix)
        return self.encode(" " + answer_prefix)

    def retokenizes_exactly(self, ids: list[int]) -> bool:
        """True when tokenizing the decoded prompt (special tokens included) gives back these ids."""
        text = self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return self._plain(text) == list(ids)
