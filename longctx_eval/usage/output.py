"""What `longctx-eval analyze` writes and prints, so the CLI stays a thin layer over the library.

`write_outputs` puts `usage.json` (the whole `UsageResult`) and three pictures in a directory;
`summary_lines` is the short plain-text reading of a result: where the q·k norm sits per layer,
the positional heads, entropy per method, the out-of-distribution share per method and length.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from longctx_eval.usage import plots
from longctx_eval.usage.norms import qk_bound, top_pairs
from longctx_eval.usage.result import UsageResult


def write_outputs(result: UsageResult, directory: Path) -> list[Path]:
    """usage.json, norms.png, positional.png and decay.png under `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "usage.json": json.dumps(result.to_json(), indent=1).encode(),
        "norms.png": plots.norm_heatmaps(result.q_norm, result.k_norm, result.v_norm, result.model),
        "positional.png": plots.head_pair_heatmap(result.q_norm, result.k_norm, result.positional_heads),
        "decay.png": plots.decay_plot(result.decay, f"{result.model} at {result.length} tokens"),
    }
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def summary_lines(result: UsageResult, heads: int = 5) -> list[str]:
    bound = qk_bound(np.asarray(result.q_norm), np.asarray(result.k_norm))
    lines = [
        f"{result.model}: {len(result.documents)} documents × {result.length} tokens, "
        f"{result.rotary_dim // 2} rotary pairs per head (pair 0 fastest), L = {result.original_context}",
        "share of Σ‖q‖·‖k‖ per quarter of the pairs (fastest first), top pairs:",
    ]
    for layer, shares in enumerate(result.qk_band_share):
        quarters = " ".join(f"{x:.2f}" for x in shares)
        lines.append(f"  layer {layer}: {quarters}   pairs {top_pairs(bound[layer].sum(axis=0), 3)}")
    lines.append("positional heads (offset, share on text / shuffled, pairs):")
    for h in result.positional_heads[:heads]:
        again = "—" if h.shuffled_share is None else f"{h.shuffled_share:.2f}"
        mark = " positional" if h.positional else ""
        lines.append(
            f"  layer {h.layer} head {h.head}: offset {h.offset}, {h.share:.2f} / {again}, "
            f"pairs {h.top_pairs}{mark}"
        )
    top = result.positional_heads[0] if result.positional_heads else None
    lines.append(
        "attention entropy per layer (nats)"
        + ("" if top is None else f"; mass of layer {top.layer} head {top.head} at offset {top.offset}")
        + ":"
    )
    for a in result.attention:
        kept = "" if top is None else f"   {a.offset_share[top.layer][top.head]:.2f}"
        lines.append(f"  {a.label}: " + " ".join(f"{x:.2f}" for x in a.entropy) + kept)
    lines.append("out-of-distribution share of Σ‖q‖·‖k‖ (distance-weighted):")
    for o in result.ood:
        lines.append(f"  {o.label} at {o.target_length}: {o.share:.3f} ({o.distance_share:.3f})")
    return lines
