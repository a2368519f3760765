"""The reference model's card (README.md): how it was made, and what the harness measured on it.

The card is written twice: by `train_reference` (recipe and training run; scores not measured yet)
and again with the quickstart's leaderboard once `longctx-eval run` has scored the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

QUICKSTART = "configs/quickstart.yaml"


def render_card(summary: dict[str, Any], scores_markdown: str | None = None) -> str:
    s = summary["settings"]
    L = summary["native_length"]
    final = summary.get("final", {})
    wall = summary["wall_time_s"]
    seed = summary["seed"]
    lines = [
        "# longctx-eval reference model",
        "",
        f"A {summary['parameters'] / 1e6:.2f}M-parameter Llama (`LlamaForCausalLM`) trained from scratch",
        "on CPU by `longctx_eval.reference`, so that the quickstart measures real retrieval and real",
        f"language modelling at a native context of **L = {L} tokens**, and what RoPE scaling methods",
        "do beyond it. It is a measuring instrument, not a useful language model.",
        "",
        "## How it was made",
        "",
        "```bash",
        f"longctx-eval train-reference --output models/reference --seed {seed}",
        "```",
        "",
        "```python",
        "from pathlib import Path",
        "from longctx_eval.reference import train_reference",
        "",
        f'train_reference(Path("models/reference"), seed={seed})',
        "```",
        "",
        f"- seed {seed}; {s['threads']} CPU threads (torch {summary.get('torch', '?')}); wall time "
        f"{wall / 60:.1f} min ({wall:.0f} s) on a 2-core machine shared with other work",
        f"- architecture: {s['layers']} layers, hidden {s['hidden_size']}, {s['heads']} heads "
        f"({s['kv_heads']} KV), MLP {s['intermediate_size']}, tied embeddings, "
        f"vocabulary {summary['vocab_size']}",
        f"- position: plain RoPE, `rope_theta` {s['rope_theta']:g}, `max_position_embeddings` {L}",
        "- tokenizer: byte-level BPE (digits split one by one, BOS added) trained on the training",
        "  text plus the passkey/NIAH strings",
        f"- text: Python {summary.get('python', '3.11')} standard-library sources (sorted; one file in 8",
        f"  held out by a hash of its path), {summary['train_files']} files, "
        f"{summary['train_tokens']:,} tokens",
        "- initialisation: a planted induction circuit (a previous-token head in layer 0, an induction",
        "  head in layer 1; `longctx_eval/reference/init.py` says why and how); other output projections",
        "  start at zero",
        f"- batches of {s['batch_size']}: {s['text_share']:.0%} text chunks, {s['copy_share']:.0%} copy rows "
        "(text with a span repeated at a random distance), the rest passkey and NIAH episodes",
        "  (alternating) built by the harness's own prompt builder with the tasks' default strings and",
        "  the noise haystack, needle depth uniform on [0, 1] (10% at 0, 10% at 1), each followed by",
        "  the answer and EOS",
        f"- loss: mean token loss + {s['answer_weight']:g} × mean loss on the answer tokens",
        f"- curriculum: the longest sequence grows from {s['start_length']} to {L} tokens over the first",
        f"  {s['curriculum']:.0%} of steps ({s['full_length_share']:.0%} of episodes at the current longest)",
        f"- {s['steps']} steps of AdamW (lr {s['lr']:g}, {s['warmup_steps']} warm-up steps, cosine to "
        f"{s['min_lr_ratio']:g}×, weight decay {s['weight_decay']:g}, gradient clip 1)",
        f"- last {s['log_every']} steps: token loss {final.get('lm_loss', float('nan')):.3f}, answer loss "
        f"{final.get('answer_loss', float('nan')):.4f}, answer-token accuracy "
        f"{final.get('answer_token_acc', float('nan')):.4f}",
    ]
    if summary.get("checkpoint_mb") is not None:
        lines.append(f"- checkpoint: {summary['checkpoint_mb']:.1f} MB (float32 safetensors)")
    if summary.get("model_sha256"):
        lines.append(
            f"- `model.safetensors` sha256 `{summary['model_sha256']}`: the same command with the same"
            " seed, torch build and thread count writes the same bytes"
        )
    lines += [
        "- held-out perplexity documents: `data/reference_docs.jsonl` (held-out stdlib modules,",
        f"  each at least {8 * L} tokens), written by `longctx_eval.reference.write_reference_docs`",
        "",
        "## Scores (measured by the harness)",
        "",
    ]
    if scores_markdown:
        run = f"`longctx-eval run {QUICKSTART}` from the repository root (CPU, float32):"
        lines += [run, "", scores_markdown.strip()]
    else:
        lines.append(f"Not measured yet: run `longctx-eval run {QUICKSTART}`.")
    return "\n".join(lines) + "\n"


def write_card(output_dir: Path, summary: dict[str, Any], scores_markdown: str | None = None) -> Path:
    path = Path(output_dir) / "README.md"
    path.write_text(render_card(summary, scores_markdown))
    return path
