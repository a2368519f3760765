"""Perplexity at four lengths: longctx-eval's perplexity task vs lm-evaluation-harness.

Same model, same documents, lengths {L, 2L, 4L, 8L}, float32, CPU:
- ours: the perplexity task in truncate mode on the HF backend with its default settings (batch
  size 8, as a sweep runs it); the four lengths of a document
  come from one forward pass at the longest (what `longctx-eval run` does for static methods);
- lm-eval: HFLM.loglikelihood_rolling with max_length set to each length, on each document's
  first ℓ−1 tokens (decoded to text, as lm-eval takes text).

Where the definitions coincide they must agree: a document of ℓ−1 tokens is one rolling window
for lm-eval — BOS then the ℓ−1 tokens, each scored — which is exactly our truncate mode at ℓ
(BOS + ℓ−1 tokens, ℓ−1 scored). Both report exp(total NLL / total tokens).

    pip install -e ".[bench]" && python benchmarks/ppl_vs_lm_eval.py [--model DIR] [--docs FILE]

Both sides are set up first (each loads the model once), then timed interleaved, A B then B A,
round after round, on the same pinned threads: each side's minimum and median, tokens scored per
second, and the ratio of the minima (target: ours ≥ 1.8× faster).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_DOCS, REFERENCE_MODEL, interleaved, pin_threads, verdict, write


def ours(
    model_dir: Path, docs_file: Path, lengths: list[int], documents: int
) -> Callable[[], dict[int, float]]:
    from longctx_eval_tasks.perplexity import Perplexity, PerplexityParams

    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.prompts import PromptFormat
    from longctx_eval.rope import ScalingSpec, read_rope_base
    from longctx_eval.task import CellContext, TaskEnv

    backend = HFBackend(HFConfig())  # the defaults (batch size 8), as a sweep runs it
    backend.load(ModelEntry(name="m", path=str(model_dir)), str(model_dir))
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    task = Perplexity(
        PerplexityParams(dataset=str(docs_file), documents=documents), TaskEnv(resolve_path=Path)
    )
    fmt = PromptFormat(backend.tokenizer)
    model_cache: dict[str, Any] = {}
    task._documents(CellContext(1, 0, lm, fmt, False, model_cache=model_cache))  # tokenize outside the timing

    def sweep() -> dict[int, float]:
        group: dict[str, Any] = {}  # one group, as the runner gives the cells of one method
        out = {}
        for k, n in enumerate(lengths):
            ctx = CellContext(
                n, 0, lm, fmt, False, group_cache=group, group_lengths=lengths[k:], model_cache=model_cache
            )
            out[n] = task.run(ctx).metrics.ppl
        return out

    return sweep


def lm_eval_side(
    model_dir: Path, docs_file: Path, lengths: list[int], documents: int
) -> tuple[Callable[[], dict[int, float]], int]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from longctx_eval.data import load_documents

    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = load_documents(str(docs_file))
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    chosen = [d for d in ids if len(d) >= max(lengths) - 1][:documents]
    # add_bos_token=False: lm-eval puts its prefix token (BOS) before each rolling window itself;
    # with the tokenizer also adding one, every window would start with two.
    lm = HFLM(
        pretrained=str(model_dir),
        batch_size=1,
        device="cpu",
        dtype="float32",
        max_length=max(lengths),
        add_bos_token=False,
    )
    mismatches = 0
    requests: dict[int, list[Any]] = {}
    for n in lengths:
        requests[n] = []
        for d in chosen:
            text = tok.decode(d[: n - 1])
            mismatches += lm.tok_encode(text) != d[: n - 1]
            requests[n].append(Instance("loglikelihood_rolling", {}, (text,), 0))

    def sweep() -> dict[int, float]:
        out = {}
        for n in lengths:
            lm._max_length = n  # the rolling window = the length
            ll = lm.loglikelihood_rolling(requests[n], disable_tqdm=True)
            out[n] = math.exp(-sum(ll) / (len(chosen) * (n - 1)))
        return out

    return sweep, mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REFERENCE_MODEL)
    parser.add_argument("--docs", type=Path, default=REFERENCE_DOCS)
    parser.add_argument("--documents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoConfig

    torch.manual_seed(0)
    L = AutoConfig.from_pretrained(args.model).max_position_embeddings
    lengths = [L, 2 * L, 4 * L, 8 * L]
    ours_sweep = ours(args.model, args.docs, lengths, args.documents)
    lme_sweep, mismatches = lm_eval_side(args.model, args.docs, lengths, args.documents)
    threads = pin_threads(args.threads)  # after both set up: HFBackend and HFLM may each set their own
    comparison = interleaved({"longctx-eval": ours_sweep, "lm-eval": lme_sweep}, args.rounds)
    p_ours, p_lme = comparison.sides["longctx-eval"].result, comparison.sides["lm-eval"].result
    t_ours, t_lme = comparison.sides["longctx-eval"].min, comparison.sides["lm-eval"].min
    tokens = args.documents * sum(n - 1 for n in lengths)
    rel = {n: abs(p_ours[n] - p_lme[n]) / p_lme[n] for n in lengths}
    for n in lengths:
        print(f"ℓ={n:>6}: ppl ours {p_ours[n]:.5f}   lm-eval {p_lme[n]:.5f}   rel. diff {rel[n]:.1e}")
    print(f"tokens scored: {tokens} ({args.documents} documents × Σ(ℓ−1)), {threads} threads")
    print("\n".join(comparison.lines()))
    speedup = t_lme / t_ours
    print(
        f"tokens/s (minima): ours {tokens / t_ours:.0f}, lm-eval {tokens / t_lme:.0f}; "
        f"speed-up {speedup:.2f}× ({verdict(speedup, 1.8, at_most=False)}: ≥ 1.8×); "
        f"re-tokenization mismatches: {mismatches}"
    )
    write(
        "ppl_vs_lm_eval",
        {
            "model": str(args.model),
            "lengths": lengths,
            "documents": args.documents,
            "tokens_scored": tokens,
            "threads": threads,
            "tokens_per_second": {"ours": tokens / t_ours, "lm_eval": tokens / t_lme},
            "speedup": speedup,
            **comparison.summary(),
            "ppl": {"ours": p_ours, "lm_eval": p_lme},
            "max_relative_difference": max(rel.values()),
            "retokenization_mismatches": mismatches,
            "definition": (
                "one window per document: BOS + first ℓ−1 tokens, all ℓ−1 scored; exp(total NLL / tokens)"
            ),
        },
    )


if __name__ == "__main__":
    main()
