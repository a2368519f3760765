"""The cost of a cell's model identity on a 7B-sized sharded checkpoint.

Cell ids hash a fingerprint of the model directory (`identity.fingerprint_model_dir`): the small
files in full, and per weight file its size, its safetensors header and 16 chunks of 64 KiB spread
over it. This builds a Llama-2-7B-shaped checkpoint in a temporary directory — real safetensors
headers (every tensor's name, dtype float16, shape and offsets, two shards split as the released
one is) in sparse files of the right sizes (`os.truncate`: 13.5 GB that take no disk) — and times
the fingerprint, several times, reporting the minimum and median.

What it measures: the reads and hashing the fingerprint does (about 1 MiB per shard). What it does
not: a cold read from a slow disk, where each of the 32 chunks costs a seek (on a spinning disk
about 10 ms each, 0.3 s in all; on an SSD or a warm page cache, nothing).

    python benchmarks/identity_cost.py [--runs 10]

Target: under 1 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, verdict, write

HIDDEN, INTERMEDIATE, LAYERS, VOCAB = 4096, 11008, 32, 32000


def llama2_7b_tensors() -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = [("model.embed_tokens.weight", [VOCAB, HIDDEN])]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out += [(p + f"self_attn.{x}_proj.weight", [HIDDEN, HIDDEN]) for x in "qkvo"]
        out += [
            (p + "mlp.gate_proj.weight", [INTERMEDIATE, HIDDEN]),
            (p + "mlp.up_proj.weight", [INTERMEDIATE, HIDDEN]),
            (p + "mlp.down_proj.weight", [HIDDEN, INTERMEDIATE]),
            (p + "input_layernorm.weight", [HIDDEN]),
            (p + "post_attention_layernorm.weight", [HIDDEN]),
        ]
    return [*out, ("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])]


def write_shard(path: Path, tensors: list[tuple[str, list[int]]]) -> int:
    """A safetensors file: its real header, then a hole as long as the float16 data."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = 2 * math.prod(shape)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
    os.truncate(path, 8 + len(raw) + offset)
    return 8 + len(raw) + offset


def build(directory: Path) -> int:
    """The checkpoint: config, tokenizer files, two shards (layers 0–23 in the first, as released)."""
    tensors = llama2_7b_tensors()
    cut = next(i for i, (n, _) in enumerate(tensors) if n.startswith("model.layers.24."))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": VOCAB,
        "max_position_embeddings": 4096,
        "torch_dtype": "float16",
        "model_type": "llama",
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 4096}))
    (directory / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": {f"t{i}": i for i in range(VOCAB)}}})
    )
    total = write_shard(directory / "model-00001-of-00002.safetensors", tensors[:cut])
    total += write_shard(directory / "model-00002-of-00002.safetensors", tensors[cut:])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    from longctx_eval.identity import fingerprint_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        size = build(directory)
        on_disk = sum(os.stat(p).st_blocks * 512 for p in directory.iterdir())
        seconds, loads = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            digest = fingerprint_model_dir(directory)
            seconds.append(time.perf_counter() - t0)
            loads.append(load_average())
    low, median = min(seconds), statistics.median(seconds)
    print(
        f"Llama-2-7B-shaped checkpoint, 2 shards, {size / 1e9:.1f} GB ({on_disk / 2**20:.1f} MiB on disk): "
        f"fingerprint {digest}"
    )
    print(
        f"fingerprint_model_dir: min {1000 * low:.1f} ms, median {1000 * median:.1f} ms, first "
        f"{1000 * seconds[0]:.1f} ms over {args.runs} runs ({verdict(median, 1.0)}: < 1 s); "
        f"load average {min(loads):.2f}–{max(loads):.2f}"
    )
    write(
        "identity_cost",
        {
            "checkpoint_bytes": size,
            "shards": 2,
            "seconds": seconds,
            "min_s": low,
            "median_s": median,
            "load_average": loads,
        },
    )


if __name__ == "__main__":
    main()
