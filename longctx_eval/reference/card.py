"""The reference model's card (README.md): how it was made, and what the harness measured on it.

The card is written twice: by `train_reference` (recipe and training run; scores not measured yet)
and again with the scores once `longctx-eval run` has scored the checkpoint: the quickstart's
leaderboard for the default model, `variant_scores` (from a sweep's leaderboard.json) for the
p-RoPE and NoPE variants.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longctx_eval.reference.variants import rope_parameters, rotating_pairs

if TYPE_CHECKING:
    from longctx_eval.reporting.summary import TableRow, TaskTable

QUICKSTART = "configs/quickstart.yaml"
VARIANTS_SWEEP = "configs/rope-variants.yaml"
# Where each variant is shipped (the default keeps the historical name).
SHIPPED = {"default": "models/reference", "p_rope": "models/reference-prope", "none": "models/reference-nope"}
# A model trained from a random initialisation (`--init random`) is not shipped: where its card
# says it was written.
RANDOM_INIT_DIR = "reference-random-init"


def _variant(s: dict[str, Any]) -> str:
    return str(s.get("rope", "default"))  # summaries written before the variants have no key


def _planted(s: dict[str, Any]) -> bool:
    return bool(s.get("plant_circuit", True))


def _output(s: dict[str, Any]) -> str:
    return SHIPPED[_variant(s)] if _planted(s) else RANDOM_INIT_DIR


def sweep_of(summary: dict[str, Any]) -> str:
    """The sweep whose scores the card quotes."""
    s = summary["settings"]
    return QUICKSTART if _variant(s) == "default" and _planted(s) else VARIANTS_SWEEP


def _title(s: dict[str, Any]) -> str:
    title = {
        "default": "# longctx-eval reference model",
        "p_rope": f"# longctx-eval reference model, p-RoPE variant (p = {s.get('p')})",
        "none": "# longctx-eval reference model, NoPE variant",
    }[_variant(s)]
    return title if _planted(s) else title + ", trained from a random initialisation"


def _purpose(s: dict[str, Any], L: int, parameters: float) -> list[str]:
    if not _planted(s):
        return [
            f"A {parameters / 1e6:.2f}M-parameter Llama (`LlamaForCausalLM`) trained on CPU by",
            "`longctx_eval.reference` with the recipe, data, seed and steps of `models/reference` but",
            "from transformers' own random initialisation: nothing is planted. It is the control for",
            "the frequency-usage analysis (`longctx-eval analyze`): whatever its q, k and v do with",
            "the rotary frequencies was learnt, not built in. From a random initialisation the",
            "induction circuit retrieval needs is not expected to form within the CPU budget",
            "(`longctx_eval/reference/init.py` says why): its training losses below show how far it got.",
        ]
    if _variant(s) == "default":
        return [
            f"A {parameters / 1e6:.2f}M-parameter Llama (`LlamaForCausalLM`) trained from scratch",
            "on CPU by `longctx_eval.reference`, so that the quickstart measures real retrieval and real",
            f"language modelling at a native context of **L = {L} tokens**, and what RoPE scaling methods",
            "do beyond it. It is a measuring instrument, not a useful language model.",
        ]
    return [
        f"A {parameters / 1e6:.2f}M-parameter Llama (`LlamaForCausalLM`) trained from scratch on CPU by",
        "`longctx_eval.reference` with exactly the recipe, data, seed and steps of `models/reference`,",
        "changing only the position encoding (below), so that the three models (RoPE, p-RoPE, NoPE)",
        f"can be compared at their native context of **L = {L} tokens** and beyond it. It is a",
        "measuring instrument, not a useful language model.",
    ]


def _command(s: dict[str, Any], seed: int) -> list[str]:
    from longctx_eval.reference.train import ReferenceSettings  # here: train imports this module

    variant, out = _variant(s), _output(s)
    flags, args = [], []  # the CLI's options and variant_settings' arguments, in step
    if variant != "default":
        flags.append(f"--rope {variant}")
        args.append(f'"{variant}"')
    if variant == "p_rope":
        flags.append(f"--p {s['p']:g}")
        args.append(f"p={s['p']:g}")
    if s["rope_theta"] != ReferenceSettings().rope_theta:
        flags.append(f"--rope-theta {s['rope_theta']:g}")
        args.append(f"rope_theta={s['rope_theta']:g}")
    if not _planted(s):
        flags.append("--init random")
        args.append('init="random"')
    call = f", settings=variant_settings({', '.join(args)})" if args else ""
    imports = "train_reference, variant_settings" if args else "train_reference"
    return [
        "```bash",
        " ".join([f"longctx-eval train-reference --output {out} --seed {seed}", *flags]),
        "```",
        "",
        "```python",
        "from pathlib import Path",
        f"from longctx_eval.reference import {imports}",
        "",
        f'train_reference(Path("{out}"), seed={seed}{call})',
        "```",
    ]


def _position(s: dict[str, Any], L: int, head_dim: int) -> list[str]:
    b = s["rope_theta"]
    if _variant(s) == "default":
        return [f"- position: plain RoPE, `rope_theta` {b:g}, `max_position_embeddings` {L}"]
    pairs = head_dim // 2
    rope = json.dumps(rope_parameters(_variant(s), s.get("p"), b))
    if _variant(s) == "p_rope":
        kept = rotating_pairs(s["p"], head_dim)
        shortest, longest = (2 * math.pi * b ** (2 * i / head_dim) for i in (kept, pairs - 1))
        return [
            "- position: p-RoPE (Barbero et al. 2024), saved as transformers' `proportional` rope type,",
            f"  `rope_parameters` `{rope}`, `max_position_embeddings` {L}:",
            f"  pairs 0–{kept - 1} of {pairs} rotate at RoPE's own θ_i = {b:g}^(−2i/{head_dim}); pairs",
            f"  {kept}–{pairs - 1} (RoPE wavelengths {shortest:.0f}–{longest:.0f} tokens) have frequency 0",
            "  and never rotate. transformers and vLLM load it unchanged",
        ]
    return [
        "- position: none (NoPE), saved as transformers' `proportional` rope type with nothing kept",
        f"  rotating, `rope_parameters` `{rope}`: every frequency",
        "  is 0, so cos = 1 and sin = 0 and the rotation is the identity; order comes from the causal",
        f"  mask alone. `max_position_embeddings` {L}; `rope_theta` is unused (transformers requires the",
        "  key). transformers loads it unchanged; vLLM refuses a factor of 0, so the harness's vLLM",
        "  backend passes 1e-6, which also leaves no pair rotating (`longctx_eval/backends/vllm_rope.py`)",
    ]


def _initialisation(s: dict[str, Any]) -> list[str]:
    if not _planted(s):
        return ["- initialisation: transformers' default random initialisation; nothing planted"]
    if _variant(s) == "none":
        return [
            "- initialisation: the RoPE model's planted induction circuit (`longctx_eval/reference/init.py`)",
            "  from the same draws, except the previous-token head's query and key in layer 0, which a",
            "  model without rotation cannot hold: they keep their random initial values; other output",
            "  projections start at zero",
        ]
    return [
        "- initialisation: a planted induction circuit (a previous-token head in layer 0, an induction",
        "  head in layer 1; `longctx_eval/reference/init.py` says why and how); other output projections",
        "  start at zero",
    ]


def _planted_account(s: dict[str, Any]) -> list[str]:
    """What is built into the weights, and what that means for the frequency-usage analysis."""
    if not _planted(s):
        return [
            "## What is planted",
            "",
            "Nothing: every weight starts from transformers' random initialisation. Whatever the",
            "frequency-usage analysis finds in this model was learnt from the data.",
        ]
    previous = (
        "layer 0's query and key are left random (no rotation to build a previous-token head from); its"
        " value and output are planted"
        if _variant(s) == "none"
        else "a previous-token head (layer 0, head 0) whose query and key read one shared direction into"
        " the 8 fastest rotary pairs (`FAST_PLANES`)"
    )
    return [
        "## What is planted",
        "",
        "The copy circuit retrieval needs is built into the initial weights, because training from",
        "a random initialisation does not find it within the CPU budget (`longctx_eval/reference/init.py`):",
        f"- {previous};",
        "- an induction head (layer 1, head 0) whose query and key match tokens through the 8 slowest",
        "  rotary pairs (`SLOW_PLANES`), which barely turn within L.",
        "",
        "Training is free to move these weights, but it starts from them. So the frequency-usage",
        "analysis on this model (positional high frequencies in layer 0, semantic low ones in layer 1)",
        "shows that the tool finds a circuit where it is, not the finding of Barbero et al. (2024) on",
        "Gemma: the layout was planted. The positional-head rule, the band contrast and the",
        "out-of-distribution share it reports are this project's own measures; the per-pair q, k, v",
        "norms are the paper's. `longctx-eval train-reference --init random` trains the same recipe",
        "with nothing planted, the control for that question.",
    ]


def render_card(summary: dict[str, Any], scores_markdown: str | None = None) -> str:
    s = summary["settings"]
    L = summary["native_length"]
    final = summary.get("final", {})
    wall = summary["wall_time_s"]
    seed = summary["seed"]
    head_dim = s["hidden_size"] // s["heads"]
    lines = [
        _title(s),
        "",
        *_purpose(s, L, summary["parameters"]),
        "",
        "## How it was made",
        "",
        *_command(s, seed),
        "",
        f"- seed {seed}; {s['threads']} CPU threads (torch {summary.get('torch', '?')}); wall time "
        f"{wall / 60:.1f} min ({wall:.0f} s) on a 2-core machine shared with other work",
        f"- architecture: {s['layers']} layers, hidden {s['hidden_size']}, {s['heads']} heads "
        f"({s['kv_heads']} KV), MLP {s['intermediate_size']}, tied embeddings, "
        f"vocabulary {summary['vocab_size']}",
        *_position(s, L, head_dim),
        "- tokenizer: byte-level BPE (digits split one by one, BOS added) trained on the training",
        "  text plus the passkey/NIAH strings",
        f"- text: Python {summary.get('python', '3.11')} standard-library sources (sorted; one file in 8",
        f"  held out by a hash of its path), {summary['train_files']} files, "
        f"{summary['train_tokens']:,} tokens",
        *_initialisation(s),
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
        *_planted_account(s),
        "",
        "## Scores (measured by the harness)",
        "",
    ]
    sweep = sweep_of(summary)
    if scores_markdown:
        run = f"`longctx-eval run {sweep}` from the repository root (CPU, float32):"
        lines += [run, "", scores_markdown.strip()]
    else:
        lines.append(f"Not measured yet: run `longctx-eval run {sweep}`.")
    return "\n".join(lines) + "\n"


def write_card(output_dir: Path, summary: dict[str, Any], scores_markdown: str | None = None) -> Path:
    path = Path(output_dir) / "README.md"
    path.write_text(render_card(summary, scores_markdown))
    return path


def variant_scores(
    leaderboard: Path,
    model: str,
    beside: tuple[str, ...] = ("reference",),
    documents: str = "data/reference_docs.jsonl",
) -> str:
    """The card's scores for one model of a sweep: its `none` values at L and the longest length,
    then its rows of each task table next to those of the models `beside` (the RoPE reference), from
    the sweep's leaderboard.json (written by `longctx-eval run` or `report`)."""
    from longctx_eval.reporting.summary import Summary

    summary = Summary.model_validate_json(Path(leaderboard).read_bytes())
    tables = [t for t in summary.tables if t.metric in ("accuracy", "ppl")]
    mine = {t.task: [r for r in t.rows if r.model == model] for t in tables}
    if not any(mine.values()):
        raise ValueError(f"{leaderboard} has no rows for model {model!r}")
    lines = [_headline(tables, mine), ""]
    for t in tables:
        if not mine[t.task]:
            continue
        others = [r for name in beside if name != model for r in t.rows if r.model == name]
        better = "higher" if t.higher_is_better else "lower"
        lines += [
            f"### {t.task} — {t.metric} ({better} is better)",
            "",
            "| model | method | " + " | ".join(str(n) for n in t.lengths) + " |",
            "|---|---|" + "---:|" * len(t.lengths),
        ]
        for r in mine[t.task] + others:
            cells = [v.text if v else "–" for v in r.values]
            lines.append(f"| {r.model} | {r.method_label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        f"_In brackets: 95% intervals (Wilson for accuracy, bootstrap over the documents of `{documents}`"
        " for perplexity). Perplexity: truncate mode, the first ℓ tokens of each document. "
        + (f"{', '.join(beside)}: the RoPE model trained alike, on the same samples._" if beside else "_")
    )
    return "\n".join(lines)


def _headline(tables: list[TaskTable], mine: dict[str, list[TableRow]]) -> str:
    parts = []
    for t in tables:
        row = next((r for r in mine[t.task] if r.method_label == "none"), None)
        values = [v for v in (row.values if row else []) if v and v.status == "ok"]
        if not values:
            continue
        first, last = values[0], values[-1]
        if t.metric == "accuracy":
            parts.append(f"{t.task} accuracy {first.text} ({first.n} samples) at L = {first.length}")
        elif first.value and last.value is not None:
            parts.append(
                f"{t.task} {first.text} at L and {last.text} at {last.length} tokens "
                f"({last.value / first.value:.2f}×, {first.n} documents)"
            )
    return "Unscaled (`none`): " + "; ".join(parts) + "."
