"""Train the reference model: a small Llama that really retrieves at its native length L, on CPU.

Recipe (the numbers are `ReferenceSettings`' defaults; models/reference/README.md has what they
gave):
- a byte-level BPE tokenizer (digits one by one) trained on the training text plus the tasks'
  fixed strings, so the passkey and NIAH frames are short in tokens and leave room for filler;
- a planted induction circuit as the initial weights (reference/init.py): learnt from a random
  init, the copy mechanism retrieval needs comes after more tokens than the CPU budget allows;
- batches that mix plain text chunks (standard library sources; perplexity), copy rows (text
  with a span repeated: copying stays rewarded) and passkey and NIAH episodes built by the
  harness's own prompt builder (retrieval);
- loss = mean token loss over everything + `answer_weight` × mean loss over the answer tokens
  (the answer is a handful of tokens among hundreds);
- a length curriculum: sequences start at `start_length` and reach L by `curriculum` of the run.
Everything random comes from one seed; data are drawn in a fixed order; threads are fixed.

Variants (`rope`, see reference/variants.py) change the position encoding and nothing else: the
same data, seed, steps and draws, so RoPE, p-RoPE and NoPE models can be compared as trained alike.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from longctx_eval.reference.card import write_card
from longctx_eval.reference.data import stdlib_sources, training_texts
from longctx_eval.reference.episodes import EpisodeMaker, prompt_strings
from longctx_eval.reference.init import plant_induction_circuit
from longctx_eval.reference.variants import check_variant, rope_parameters


@dataclass(frozen=True)
class ReferenceSettings:
    native_length: int = 256  # L: max_position_embeddings, longest training prompt
    # Small enough that positions past L are really new to the model (at 8L the slowest plane
    # turns ~2.3 rad further than it ever did in training), large enough that the slowest planes
    # hold the induction head's content match over L.
    rope_theta: float = 1000.0
    # The position encoding, the only thing a variant changes: "default" (RoPE on every pair),
    # "p_rope" (the fraction p of highest-frequency pairs rotates, the rest never does) or "none"
    # (NoPE: no rotation at all). reference/variants.py has how each is saved.
    rope: str = "default"
    p: float | None = None  # p_rope only: the fraction of pairs kept rotating
    vocab_size: int = 4096
    hidden_size: int = 192
    layers: int = 4
    heads: int = 3
    kv_heads: int = 3
    intermediate_size: int = 512
    # Measured on seed 0 with the 16 shipped documents (truncate perplexity, `none`): after 1500
    # steps, attending past L cost the model 0.21 nats a token beyond L (against the same model held
    # to a 256-token window) and 8L had 1.41x the perplexity at L; after 2300 steps it costs 0.42
    # nats and 8L has 1.62x, with retrieval at L unchanged. 2300 steps take ~21 minutes on 2 cores.
    steps: int = 2300
    batch_size: int = 12
    text_share: float = 0.5  # share of each batch that is plain text chunks
    # Start from a planted induction circuit (see reference/init.py); False (`--init random`) starts
    # from transformers' own random initialisation, nothing planted, with the same data and budget.
    plant_circuit: bool = True
    copy_share: float = 0.17  # share of copy rows (2 of 12): copying keeps being rewarded
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    answer_weight: float = 2.0
    curriculum: float = 0.3  # share of the run over which the longest sequence grows to L
    start_length: int = 128  # longest sequence at step 0
    full_length_share: float = 0.3  # episodes drawn at the current longest length
    train_chars: int = 6_000_000  # characters of stdlib text used for training
    tokenizer_chars: int = 2_000_000
    threads: int = 2
    log_every: int = 50


def build_tokenizer(texts: list[str], vocab_size: int) -> Any:
    from longctx_eval.tiny import train_tokenizer

    # The tasks' strings, repeated, become whole-word tokens: the prompt frames stay short.
    return train_tokenizer(texts + prompt_strings() * 50, vocab_size)


def model_config(s: ReferenceSettings, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        intermediate_size=s.intermediate_size,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        max_position_embeddings=s.native_length,
        rope_parameters=rope_parameters(s.rope, s.p, s.rope_theta),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,  # halves the embedding cost of the 20 MB budget
    )


@dataclass(frozen=True)
class Batch:
    ids: Any  # (rows, width) token ids, right-padded
    lm_weight: Any  # 1 where a token is scored by the token loss
    answer: Any  # 1 on the answer tokens of episodes (scored again, weighted)
    copy: Any  # 1 on the repeated half of copy rows (for the log only)


class Batches:
    """Seeded batches of text chunks, copy rows and episodes, in a fixed order."""

    def __init__(self, s: ReferenceSettings, tokenizer: Any, texts: list[str], seed: int) -> None:
        self.s = s
        self.rng = np.random.default_rng(seed)
        self.bos, self.eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        docs = tokenizer(texts, add_special_tokens=False)["input_ids"]
        self.doc_starts = np.cumsum([0] + [len(d) + 1 for d in docs[:-1]])
        self.stream = np.fromiter((t for d in docs for t in [*d, self.eos]), dtype=np.int64)
        self.episodes = EpisodeMaker(tokenizer)
        self.min_length = self.episodes.min_length()

    def _text_row(self, length: int) -> list[int]:
        # Half the chunks open a document, as the perplexity task's truncated documents do.
        n = length - 1
        if self.rng.random() < 0.5:
            start = min(int(self.doc_starts[self.rng.integers(len(self.doc_starts))]), len(self.stream) - n)
            return [self.bos, *self.stream[start : start + n].tolist()]
        return [self.bos, *self._span(n)]

    def _span(self, n: int) -> list[int]:
        start = int(self.rng.integers(len(self.stream) - n))
        span: list[int] = self.stream[start : start + n].tolist()
        return span

    def _copy_row(self, length: int) -> tuple[list[int], int, int]:
        """Text with one span repeated: (ids, start and end of the repeat).

        The repeat is predictable by copying, a dense signal from which induction heads form (the
        mechanism retrieval needs). Span length and the distance between the copies are random:
        with a fixed distance the model learns "look back k tokens", which no episode rewards.
        """
        n = length - 1
        k = int(self.rng.integers(8, n // 2 + 1))
        a, g = sorted(self.rng.integers(0, n - 2 * k + 1, 2).tolist())
        span = self._span(k)
        ids = [self.bos, *self._span(a), *span, *self._span(g - a), *span, *self._span(n - 2 * k - g)]
        return ids, 1 + g + k, 1 + g + 2 * k

    def longest(self, step: int) -> int:
        s = self.s
        grow = min(1.0, step / max(1.0, s.curriculum * s.steps))
        lo = max(self.min_length, s.start_length)
        return int(lo + grow * (s.native_length - lo))

    def _episode_length(self, step: int) -> int:
        top = self.longest(step)
        if self.rng.random() < self.s.full_length_share:
            return top
        return int(self.rng.integers(self.min_length, top + 1))

    def next(self, step: int) -> Batch:
        import torch

        top = self.longest(step)
        n_copy = round(self.s.batch_size * self.s.copy_share)
        n_text = round(self.s.batch_size * self.s.text_share)
        # (ids, answer start or -1, copy repeat's start and end). Text chunks follow the
        # curriculum too: a short batch costs less, and no row pads to L.
        rows: list[tuple[list[int], int, int, int]] = [(self._text_row(top), -1, 0, 0) for _ in range(n_text)]
        rows += [(ids, -1, c0, c1) for ids, c0, c1 in (self._copy_row(top) for _ in range(n_copy))]
        for k in range(self.s.batch_size - n_text - n_copy):
            kind = "passkey" if (step + k) % 2 == 0 else "niah"
            ep = self.episodes.make(self.rng, kind, self._episode_length(step))
            rows.append((ep.ids, ep.answer_start, 0, 0))
        width = max(len(r[0]) for r in rows)
        batch = Batch(
            torch.full((len(rows), width), self.pad, dtype=torch.long),
            torch.zeros((len(rows), width)),
            torch.zeros((len(rows), width)),
            torch.zeros((len(rows), width)),
        )
        for i, (r, a, c0, c1) in enumerate(rows):
            batch.ids[i, : len(r)] = torch.tensor(r)
            batch.lm_weight[i, 1 : len(r)] = 1.0  # every real token after BOS is predicted
            if a >= 0:
                batch.answer[i, a : len(r)] = 1.0
            batch.copy[i, c0:c1] = 1.0
        return batch


def lr_at(step: int, s: ReferenceSettings) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    t = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def train_reference_checked(
    output: Path,
    seed: int = 0,
    steps: int | None = None,
    docs: Path | None = None,
    rope: str = "default",
    p: float | None = None,
    rope_theta: float | None = None,
    init: str = "planted",
) -> dict[str, Any]:
    """The settings checked first (ConfigError, every problem at once, named by parameter), then
    training, then (with `docs`) the held-out perplexity documents (`api.train_reference`)."""
    from longctx_eval.errors import ConfigError
    from longctx_eval.reference.data import write_reference_docs

    problems = check_variant(rope, p, rope_theta, _head_dim(ReferenceSettings()), init=init)
    if steps is not None and steps < 1:
        problems.append(("steps", f"must be >= 1 (got {steps})"))
    if output.exists() and any(output.iterdir()):
        problems.append(("output", f"{output} is not empty; give a new directory"))
    if problems:
        raise ConfigError(problems)
    settings = variant_settings(rope, p, rope_theta, init=init)
    summary = train_reference(output, seed=seed, steps=steps, settings=settings)
    if docs is not None:
        write_reference_docs(docs)
    return summary


def variant_settings(
    rope: str = "default", p: float | None = None, rope_theta: float | None = None, init: str = "planted"
) -> ReferenceSettings:
    """The recipe with its position encoding (and `init`: "planted" or "random") replaced (options
    checked by `check_variant`)."""
    from longctx_eval.reference.variants import P_DEFAULT

    base = ReferenceSettings()
    return ReferenceSettings(
        **{
            **asdict(base),
            "rope": rope,
            "p": (p if p is not None else P_DEFAULT) if rope == "p_rope" else None,
            "rope_theta": base.rope_theta if rope_theta is None else rope_theta,
            "plant_circuit": init == "planted",
        }
    )


def train_reference(
    output_dir: Path,
    *,
    seed: int = 0,
    steps: int | None = None,
    settings: ReferenceSettings | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train the reference model and save it (HF format, with tokenizer) in `output_dir`.

    Returns a summary (settings, wall time, final losses), also written to
    `output_dir/training_summary.json`. `steps` overrides the settings' step count (tests use a few).
    """
    import torch
    from transformers import LlamaForCausalLM

    s = settings or ReferenceSettings()
    if steps is not None:
        s = ReferenceSettings(**{**asdict(s), "steps": steps})
    # Settings always carry a rope_theta (transformers wants one even for NoPE): not an option here.
    problems = check_variant(
        s.rope,
        s.p,
        None if s.rope == "none" else s.rope_theta,
        _head_dim(s),
        init="planted" if s.plant_circuit else "random",
    )
    if s.rope == "p_rope" and s.p is None:
        problems.append(("p", "p_rope needs p"))
    if problems:
        raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
    t0 = time.monotonic()
    torch.set_num_threads(s.threads)
    torch.manual_seed(seed)
    sources = stdlib_sources()
    texts = training_texts(sources, s.train_chars)
    tokenizer = build_tokenizer(texts[: _prefix_count(texts, s.tokenizer_chars)], s.vocab_size)
    batches = Batches(s, tokenizer, texts, seed)
    model = LlamaForCausalLM(model_config(s, tokenizer))
    if s.plant_circuit:
        # NoPE has no rotation to build a previous-token head from (reference/init.py says what
        # is planted instead); RoPE and p-RoPE get the same circuit from the same draws.
        plant_induction_circuit(model, torch.Generator().manual_seed(seed), previous_token=s.rope != "none")
    model.train()
    decay = [p for p in model.parameters() if p.ndim >= 2]  # matrices; norms' gains are not decayed
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=s.lr,
        betas=(0.9, 0.95),
    )
    history: list[dict[str, float]] = []
    window: list[tuple[float, float, float, float]] = []
    for step in range(s.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, s)
        b = batches.next(step)
        ids = b.ids
        logits = model(input_ids=ids[:, :-1]).logits
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(ids.shape[0], -1)
        lm_w, ans, cp = b.lm_weight[:, 1:], b.answer[:, 1:], b.copy[:, 1:]
        lm_loss = (nll * lm_w).sum() / lm_w.sum()
        ans_loss = (nll * ans).sum() / ans.sum()
        loss = lm_loss + s.answer_weight * ans_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            hit = ((logits.argmax(-1) == ids[:, 1:]).float() * ans).sum() / ans.sum()
            copy_loss = (nll * cp).sum() / cp.sum()
        window.append((lm_loss.item(), ans_loss.item(), hit.item(), copy_loss.item()))
        if (step + 1) % s.log_every == 0 or step + 1 == s.steps:
            lm_m, ans_m, acc_m, copy_m = (float(np.mean(v)) for v in zip(*window, strict=True))
            row = {
                "step": step + 1,
                "lm_loss": lm_m,
                "answer_loss": ans_m,
                "answer_token_acc": acc_m,
                "copy_loss": copy_m,
                "longest": batches.longest(step),
                "elapsed_s": time.monotonic() - t0,
            }
            history.append(row)
            window = []
            if log:
                log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    summary = {
        "seed": seed,
        "settings": asdict(s),
        "native_length": s.native_length,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "train_files": len(texts),
        "train_tokens": len(batches.stream),
        "wall_time_s": time.monotonic() - t0,
        "final": history[-1] if history else {},
        "history": history,
    }
    summary["checkpoint_mb"] = sum(f.stat().st_size for f in output_dir.glob("*.safetensors")) / 1e6
    # Same seed, torch build and thread count give the same bytes: the hash is the reproducibility check.
    summary["model_sha256"] = hashlib.sha256((output_dir / "model.safetensors").read_bytes()).hexdigest()
    (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_card(output_dir, summary)
    return summary


def _head_dim(s: ReferenceSettings) -> int:
    return s.hidden_size // s.heads


def _prefix_count(texts: list[str], max_chars: int) -> int:
    total = 0
    for i, t in enumerate(texts):
        total += len(t)
        if total >= max_chars:
            return i + 1
    return len(texts)
