"""Distance to the limit: the perplexity pass's FLOP/s against plain matrix products on this CPU.

A random-weight Llama wider than the reference model (hidden 1024, 8 layers, 16 heads, MLP 2816,
vocabulary 32,000, untied head: 136M weights), float32, one sequence of ℓ tokens (2k and 8k)
through the harness's NLL path (`token_nll`: decoder forward, then the head and log-softmax a
chunk of `nll_chunk_tokens` positions at a time). Its FLOPs are counted as

    dense:      2 × decoder weights (embeddings excluded) × ℓ
    head:       2 × hidden × vocabulary × (ℓ − 1)         (the positions scored)
    attention:  2 × layers × hidden × ℓ²                  (QKᵀ and PV over the causal half)

and divided by the time. The limit is what `torch.mm` achieves on the same threads and dtype with
the model's own shapes (ℓ × hidden by hidden × MLP width, and the head's 1024 × hidden by hidden
× vocabulary), measured interleaved with the passes. The pass is also split into the decoder
(transformers' code) and the NLL chunks (ours), each with its own share of the time.

    python benchmarks/flops.py [--lengths 2048 8192] [--rounds 3] [--threads 2] [--breakdown]

`--breakdown` also profiles one decoder forward per length (torch.profiler, self time per
operator: the weight products, the attention kernel, rotary application, elementwise work, masks)
and times transformers' sdpa attention against its eager attention at `--eager-length` (2k by
default: eager attention materialises a heads × ℓ × ℓ matrix, 4 GiB per layer at 8k).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, pin_threads, write

HIDDEN, LAYERS, HEADS, MLP, VOCAB = 1024, 8, 16, 2816, 32000


def make_model(directory: Path, max_len: int) -> None:
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=MLP,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=max_len,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    vocab = {f"t{i}": i for i in range(VOCAB)}
    PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")), eos_token="t1"
    ).save_pretrained(directory)


def measure(lm: Any, weights: int, ids: list[int], rounds: int) -> dict[str, Any]:
    """One length: the pass, its two parts and the two matrix products, interleaved."""
    import torch

    from longctx_eval.backends.hf import HFLanguageModel

    n, model, chunk = len(ids), lm.model, lm.b.cfg.nll_chunk_tokens
    lm.token_nll([ids[:32]])  # the once-per-model head check, outside the measurement
    flops = {
        "dense": 2.0 * weights * n,
        "head": 2.0 * HIDDEN * VOCAB * (n - 1),
        "attention": 2.0 * LAYERS * HIDDEN * n * n,
    }
    x, w = torch.randn(n, HIDDEN), torch.randn(HIDDEN, MLP)
    hx, hw = torch.randn(chunk, HIDDEN), torch.randn(HIDDEN, VOCAB)
    tensor = torch.tensor([ids])
    hidden: dict[str, Any] = {}

    def perplexity_pass() -> None:
        lm.token_nll([ids])

    def decoder() -> None:
        with torch.inference_mode():
            hidden["h"] = model.get_decoder()(input_ids=tensor, use_cache=False).last_hidden_state[0]

    def nll_chunks() -> None:
        with torch.inference_mode():
            lm._nll_from_hidden(hidden["h"], tensor[0], 1)

    def nll_fresh() -> None:
        """The NLL chunks as before the reused buffers: a new logits block per chunk."""
        buffers = HFLanguageModel._chunk_buffers
        setattr(HFLanguageModel, "_chunk_buffers", lambda *a: None)  # noqa: B010 (patching a method)
        try:
            nll_chunks()
        finally:
            setattr(HFLanguageModel, "_chunk_buffers", buffers)  # noqa: B010

    def mm_mlp() -> None:
        torch.mm(x, w)

    def mm_head() -> None:
        torch.mm(hx, hw)

    comparison = interleaved(
        {
            "perplexity pass": perplexity_pass,
            "decoder forward": decoder,
            "NLL chunks": nll_chunks,
            "NLL chunks, fresh blocks": nll_fresh,
            "mm ℓ×hidden·hidden×MLP": mm_mlp,
            "mm head chunk": mm_head,
        },
        rounds,
    )
    s = comparison.sides
    mm_rate = max(
        2.0 * n * HIDDEN * MLP / s["mm ℓ×hidden·hidden×MLP"].min,
        2.0 * chunk * HIDDEN * VOCAB / s["mm head chunk"].min,
    )
    total = sum(flops.values())
    rate = total / s["perplexity pass"].min
    decoder_rate = (flops["dense"] + flops["attention"]) / s["decoder forward"].min
    nll_rate = flops["head"] / s["NLL chunks"].min
    row = {
        "length": n,
        "flops": flops,
        "matmul_flops_per_s": mm_rate,
        "pass_flops_per_s": rate,
        "fraction": rate / mm_rate,
        "decoder_fraction": decoder_rate / mm_rate,
        "nll_fraction": nll_rate / mm_rate,
        "nll_share_of_time": s["NLL chunks"].min / s["perplexity pass"].min,
        "nll_reused_over_fresh": comparison.ratio("NLL chunks", "NLL chunks, fresh blocks"),
        **comparison.summary(),
    }
    print(
        f"ℓ = {n}: {total / 1e9:.0f} GFLOP (dense {flops['dense'] / total:.0%}, head "
        f"{flops['head'] / total:.0%}, attention {flops['attention'] / total:.0%})"
    )
    print("\n".join(comparison.lines()))
    print(
        f"  matmul {mm_rate / 1e9:.0f} GFLOP/s; perplexity pass {rate / 1e9:.0f} GFLOP/s = "
        f"{rate / mm_rate:.0%} of it (decoder {decoder_rate / mm_rate:.0%}, NLL chunks "
        f"{nll_rate / mm_rate:.0%}, {row['nll_share_of_time']:.0%} of the time); NLL chunks with "
        f"reused buffers / fresh blocks: {row['nll_reused_over_fresh']:.2f}",
        flush=True,
    )
    return row


# Where an operator's time goes in the breakdown (self time; the rest is "other").
CATEGORIES = {
    "matrix products (weights)": ("aten::mm", "aten::addmm"),
    "attention kernel (sdpa)": ("aten::_scaled_dot_product_flash_attention_for_cpu",),
    "eager attention (bmm, softmax)": ("aten::bmm", "aten::_softmax", "aten::softmax"),
    "rotary application (cat, neg)": ("aten::cat", "aten::neg"),
    "elementwise (mul, add, silu, norm)": (
        "aten::mul",
        "aten::add",
        "aten::silu",
        "aten::pow",
        "aten::mean",
        "aten::rsqrt",
        "aten::copy_",
        "aten::clone",
        "aten::to",
        "aten::_to_copy",
    ),
    "masks, positions (arange, mask ops)": (
        "aten::arange",
        "aten::ones",
        "aten::where",
        "aten::le",
        "aten::tril",
    ),
}


def breakdown(model: Any, ids: list[int], weights: int, mm_rate: float | None = None) -> dict[str, Any]:
    """One decoder forward under torch.profiler: self time per operator category, and the rates
    of its two big parts (weight products over the dense FLOPs, the attention kernel over the
    attention FLOPs) against `torch.mm`'s."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    n = len(ids)
    tensor = torch.tensor([ids])
    with torch.inference_mode():
        model.get_decoder()(input_ids=tensor, use_cache=False)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.get_decoder()(input_ids=tensor, use_cache=False)
    if mm_rate is None:  # the limit, measured here: the best of 3 products of the model's shapes
        x, w = torch.randn(n, HIDDEN), torch.randn(HIDDEN, MLP)
        best = min(interleaved({"mm": lambda: torch.mm(x, w)}, 3).sides["mm"].seconds)
        mm_rate = 2.0 * n * HIDDEN * MLP / best
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    by_op = {e.key: e.self_cpu_time_total / 1e6 for e in events}
    seconds = {c: sum(by_op.get(op, 0.0) for op in ops) for c, ops in CATEGORIES.items()}
    seconds["other"] = total - sum(seconds.values())
    dense, attention = 2.0 * weights * n, 2.0 * LAYERS * HIDDEN * n * n
    mm_s = seconds["matrix products (weights)"]
    sdpa_s = seconds["attention kernel (sdpa)"]
    out = {
        "length": n,
        "profiled_seconds": total,
        "seconds": seconds,
        "share": {c: x / total for c, x in seconds.items()},
        "weights_flops_per_s": dense / mm_s if mm_s else None,
        "attention_flops_per_s": attention / sdpa_s if sdpa_s else None,
        "top_ops": sorted(by_op.items(), key=lambda kv: -kv[1])[:12],
        "matmul_flops_per_s": mm_rate,
    }
    if mm_rate:
        out["weights_fraction"] = out["weights_flops_per_s"] / mm_rate if mm_s else None
        out["attention_fraction"] = out["attention_flops_per_s"] / mm_rate if sdpa_s else None
    print(f"  decoder at {n} tokens under the profiler: {total:.2f} s of operator time")
    for c, x in seconds.items():
        print(f"    {c:<38} {x:7.2f} s  {x / total:5.1%}")
    if mm_rate:
        print(
            f"    weight products at {out['weights_fraction']:.2f} of torch.mm's FLOP/s; the attention "
            f"kernel at {out['attention_fraction'] or 0:.2f} (its FLOPs counted as the causal half)"
        )
    return out


def sdpa_against_eager(model: Any, ids: list[int], rounds: int) -> dict[str, Any]:
    """The decoder forward with transformers' sdpa attention against its eager attention."""
    import torch

    tensor = torch.tensor([ids])

    def forward(kind: str) -> Any:
        def run() -> None:
            model.set_attn_implementation(kind)
            with torch.inference_mode():
                model.get_decoder()(input_ids=tensor, use_cache=False)

        return run

    try:
        comparison = interleaved({"sdpa": forward("sdpa"), "eager": forward("eager")}, rounds)
    finally:
        model.set_attn_implementation("sdpa")
    print(f"  decoder at {len(ids)} tokens, sdpa against eager attention:")
    print("\n".join(comparison.lines()))
    return {
        "length": len(ids),
        "ratio_sdpa_to_eager": comparison.ratio("sdpa", "eager"),
        **comparison.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also profile the decoder per operator; sdpa against eager",
    )
    parser.add_argument("--eager-length", type=int, default=2048, help="sdpa against eager at this length")
    parser.add_argument("--no-pass", action="store_true", help="only the breakdown, not the timed passes")
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    threads = pin_threads(args.threads)
    import torch

    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.rope import ScalingSpec, read_rope_base

    with tempfile.TemporaryDirectory() as tmp:
        make_model(Path(tmp), max(args.lengths))
        backend = HFBackend(HFConfig(threads=threads))
        backend.load(ModelEntry(name="wide", path=tmp), tmp)
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    weights = sum(p.numel() for p in backend.model.get_decoder().parameters())
    weights -= backend.model.get_input_embeddings().weight.numel()
    gen = torch.Generator().manual_seed(0)
    rows, parts, eager = [], [], None
    for n in args.lengths:
        ids = torch.randint(3, VOCAB, (n,), generator=gen).tolist()
        row = None if args.no_pass else measure(lm, weights, ids, args.rounds)
        if row is not None:
            rows.append(row)
        if args.breakdown:
            parts.append(breakdown(backend.model, ids, weights, row["matmul_flops_per_s"] if row else None))
    if args.breakdown:
        ids = torch.randint(3, VOCAB, (args.eager_length,), generator=gen).tolist()
        eager = sdpa_against_eager(backend.model, ids, args.rounds)
    write(
        "flops_breakdown" if args.no_pass else "flops",
        {
            "threads": threads,
            "dtype": "float32",
            "shape": [HIDDEN, LAYERS, HEADS, MLP, VOCAB],
            "weights": weights,
            "rows": rows,
            "breakdown": parts,
            "sdpa_against_eager": eager,
        },
    )


if __name__ == "__main__":
    main()
