"""GPU throughput per method: a random-weight model with Llama-2-7B shapes in bf16, 4k–32k tokens.

For each method and length, on the HF backend (rotary swapped per method, weights loaded once):
- perplexity: tokens scored per second (one sequence of ℓ tokens through the chunked NLL path);
- passkey: time to first token (prefill of an ℓ-token prompt, one new token);
- peak GPU memory of each;
- achieved FLOP/s as a fraction of the GPU's peak: forward FLOPs ≈ 2·N·ℓ (weights) +
  2·layers·ℓ²·hidden (causal attention scores and values), over the measured time.

Random weights give the same compute as trained ones. Needs a CUDA GPU (not used by the tests):

    python benchmarks/gpu_throughput.py [--lengths 4096 8192 16384 32768] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write

# Dense bf16 peak TFLOP/s by device name fragment (vendor data sheets).
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


LLAMA2_7B = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
}
# --dry-run: the same code on a CPU with tiny shapes (head_dim 32), so the GPU run cannot fail on a typo
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}


def random_llama(shape: dict[str, int], device: str, dtype: Any, native: int) -> tuple[Any, Any]:
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    config = LlamaConfig(
        vocab_size=32000,
        num_key_value_heads=shape["num_attention_heads"],
        max_position_embeddings=native,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        **shape,
    )
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)  # built in its dtype: no float32 copy of 7B weights
    with torch.device(device):
        model = LlamaForCausalLM(config).eval()
    torch.set_default_dtype(torch.float32)
    vocab = {f"t{i}": i for i in range(32000)}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")), eos_token="t1"
    )
    return model, tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384, 32768])
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="default: looked up from the GPU name"
    )
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, 256 and 512 tokens")
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU (or --dry-run)")
    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.rope import ScalingSpec, read_rope_base
    from longctx_eval.rope.methods import Llama3Params, YarnParams

    dry = args.dry_run
    name = "cpu (dry run)" if dry else torch.cuda.get_device_name(0)
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    lengths = [256, 512] if dry else args.lengths
    device, dtype = ("cpu", "float32") if dry else ("cuda", "bfloat16")
    model, tok = random_llama(TINY if dry else LLAMA2_7B, device, getattr(torch, dtype), 128 if dry else 4096)
    backend = HFBackend(HFConfig(dtype=dtype, device=device, batch_size=1, nll_chunk_tokens=4096))
    backend.model, backend.tokenizer, backend.config = model, tok, copy.deepcopy(model.config)
    backend._head_checked = False
    base = read_rope_base(backend.config)
    n_params = sum(p.numel() for p in model.parameters())
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    methods = [
        ScalingSpec("none"),
        ScalingSpec("pi", 8.0),
        ScalingSpec("ntk", 8.0),
        ScalingSpec("dynamic_ntk", 8.0),
        ScalingSpec("yarn", 8.0, YarnParams()),
        ScalingSpec("llama3", 8.0, Llama3Params()),
    ]
    rows = []
    for spec in methods:
        lm = backend.apply(spec.resolve(base))
        for n in lengths:
            ids = torch.randint(3, 32000, (n,), generator=torch.Generator().manual_seed(n)).tolist()
            flops = 2 * n_params * n + 2 * layers * n * n * hidden
            row: dict[str, Any] = {"method": spec.label(), "length": n}
            calls = (
                ("ppl", lambda lm=lm, ids=ids: lm.token_nll([ids])),
                ("ttft", lambda lm=lm, ids=ids: lm.generate([ids], 1)),
            )
            for kind, call in calls:
                call()  # warm-up (kernels, allocator)
                if not dry:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                call()
                if not dry:
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                row[f"{kind}_seconds"] = seconds
                row[f"{kind}_peak_gib"] = None if dry else torch.cuda.max_memory_allocated() / 2**30
                row[f"{kind}_flops_fraction"] = flops / seconds / (peak * 1e12) if peak else None
            row["ppl_tokens_per_second"] = n / row["ppl_seconds"]
            rows.append(row)
            frac = row["ppl_flops_fraction"]
            print(
                f"{spec.label():>14} {n:>6}: ppl {row['ppl_tokens_per_second']:8.0f} tok/s, "
                f"TTFT {row['ttft_seconds'] * 1000:7.0f} ms, peak {row['ppl_peak_gib'] or 0:5.1f} GiB"
                + (f", {100 * frac:4.1f}% of peak FLOP/s" if frac else "")
            )
    write(
        "gpu_throughput_dry_run" if dry else "gpu_throughput",
        {"gpu": name, "peak_tflops": peak, "params": n_params, "rows": rows},
    )


if __name__ == "__main__":
    main()
