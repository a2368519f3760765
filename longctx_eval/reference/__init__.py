"""The reference model: a small Llama trained by the project, so a CPU quickstart measures something real.

`train_reference(output_dir, seed=0)` trains it on CPU and saves it in HF format;
`variant_settings("p_rope", p=0.75)` / `variant_settings("none")` give the same recipe with p-RoPE or
no position encoding (NoPE); `write_reference_docs(path)` writes the held-out perplexity documents
it is scored on.
"""

from longctx_eval.reference.data import write_reference_docs
from longctx_eval.reference.train import (
    ReferenceSettings,
    train_reference,
    train_reference_checked,
    variant_settings,
)

__all__ = [
    "ReferenceSettings",
    "train_reference",
    "train_reference_checked",
    "variant_settings",
    "write_reference_docs",
]
