"""Peak memory of perplexity at 16k tokens: chunked NLL vs a plain `model(input_ids, labels=...)`.

A random-weight Llama with a 32k vocabulary (weights do not matter for memory), one sequence of
16384 tokens, float32, CPU. Each way runs in a fresh process; what is compared is the rise of the
process's peak resident memory over its resident memory just before the computation (model and
input already in memory). The plain forward materialises (tokens × vocab) logits (2 GiB here)
and their log-softmax; the harness turns hidden states into logits `nll_chunk_tokens` at a time.

    python benchmarks/ppl_memory.py [--tokens 16384] [--vocab 32000]

Target: ours ≤ 0.5× the plain forward. Both NLLs are also compared (they must agree).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write

CHILD = r"""
import json, resource, sys, torch, psutil
from pathlib import Path
mode, model_dir, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_grad_enabled(False)
from transformers import AutoModelForCausalLM
ids = torch.randint(3, 30000, (1, tokens), generator=torch.Generator().manual_seed(0))
if mode == "ours":
    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.rope import ScalingSpec, read_rope_base
    b = HFBackend(HFConfig(batch_size=1))
    b.load(ModelEntry(name="m", path=model_dir), model_dir)
    lm = b.apply(ScalingSpec("none").resolve(read_rope_base(b.config)))
    lm.token_nll([ids[0, :32].tolist()])  # the once-per-model head check, outside the measurement
    run = lambda: float(lm.token_nll([ids[0].tolist()])[0].mean())
else:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    run = lambda: float(model(ids, labels=ids).loss)
before = psutil.Process().memory_info().rss
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
mean_nll = run()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
# An upper bound when the computation stays below an earlier peak (ru_maxrss never falls).
fig = {"rss_before": before, "peak_before": peak_before, "peak": peak, "rise": peak - before}
fig["mean_nll"] = mean_nll
print(json.dumps(fig))
"""


def make_model(directory: Path, vocab: int, tokens: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=tokens,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab_map = {f"t{i}": i for i in range(vocab)}
    PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab_map, unk_token="t0"))
    ).save_pretrained(directory)


def measure(mode: str, model_dir: Path, tokens: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(model_dir), str(tokens)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--vocab", type=int, default=32000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        make_model(model_dir, args.vocab, args.tokens)
        ours, plain = measure("ours", model_dir, args.tokens), measure("plain", model_dir, args.tokens)
    gib = 2**30
    ratio = ours["rise"] / plain["rise"]
    print(
        f"{args.tokens} tokens, vocab {args.vocab}: "
        f"logits alone would be {args.tokens * args.vocab * 4 / gib:.2f} GiB"
    )
    print(f"peak memory rise: ours {ours['rise'] / gib:.2f} GiB, plain forward {plain['rise'] / gib:.2f} GiB")
    print(
        f"ratio: {ratio:.2f}× (target ≤ 0.5×); "
        f"mean NLL ours {ours['mean_nll']:.6f}, plain {plain['mean_nll']:.6f}"
    )
    write(
        "ppl_memory",
        {
            "tokens": args.tokens,
            "vocab": args.vocab,
            "peak_rise_bytes": {"ours": ours["rise"], "plain": plain["rise"]},
            "ratio": ratio,
            "mean_nll": {"ours": ours["mean_nll"], "plain": plain["mean_nll"]},
        },
    )


if __name__ == "__main__":
    main()
