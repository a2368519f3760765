"""The transformers backend: weights loaded once per model, the rotary module swapped per method.

Only the rotary-embedding module changes between methods: it is rebuilt from a scaled copy of the
model's config, exactly as `from_pretrained` with that config would build it (a test checks the
logits match a fresh load). Token NLLs come from the decoder's hidden states, turned into logits a
chunk of positions at a time, so a (tokens × vocab) logits tensor is never materialised.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from longctx_eval.backends import HFConfig
from longctx_eval.config import ModelEntry
from longctx_eval.lm import Generation
from longctx_eval.rope.base import scaled_config
from longctx_eval.rope.frequencies import reset_rotary_state, rotary_modules
from longctx_eval.rope.methods import RopeSetting

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


class HeadMismatchError(RuntimeError):
    pass


class HFBackend:
    def __init__(self, config: HFConfig) -> None:
        self.cfg = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        )
        self.model: Any = None
        self.tokenizer: Any = None
        self.config: Any = None
        self.weight_loads = 0  # how many times weights were read from disk (benchmarks check it)

    def describe(self) -> dict[str, Any]:
        import transformers

        return {
            "kind": "hf",
            "dtype": self.cfg.dtype,
            "device": str(self.device),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }

    def load(self, model: ModelEntry, path: str) -> HFBackend:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.unload()
        kwargs: dict[str, Any] = {"revision": model.revision, "trust_remote_code": model.trust_remote_code}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        load_kwargs = dict(kwargs, dtype=_DTYPES[self.cfg.dtype])
        if self.cfg.attn_implementation:
            load_kwargs["attn_implementation"] = self.cfg.attn_implementation
        model_obj: Any = AutoModelForCausalLM.from_pretrained(path, **load_kwargs)
        self.model = model_obj.to(self.device).eval()
        self.weight_loads += 1
        # The rotary modules are rebuilt from this pristine copy for every method.
        self.config = copy.deepcopy(self.model.config)
        self._head_checked = False
        return self

    def unload(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unservable(self, setting: RopeSetting, length: int, new_tokens: int) -> str | None:
        return None  # transformers computes the frequencies for any position

    def apply(self, setting: RopeSetting, max_tokens: int = 0) -> HFLanguageModel:
        swap_rotary(
            self.model, scaled_config(self.config, setting.rope_parameters, setting.max_position_embeddings)
        )
        return HFLanguageModel(self)


def swap_rotary(model: torch.nn.Module, config: Any) -> None:
    """Replace every rotary module of `model` by one built from `config` (weights untouched)."""
    found = rotary_modules(model)
    if not found:
        raise RuntimeError(f"no rotary embedding module found in {type(model).__name__}")
    for name, old in found:
        device: Any = old.inv_freq.device
        new = type(old)(config=config).to(device)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


class HFLanguageModel:
    """`LanguageModel` over the backend's current model and rotary setting."""

    def __init__(self, backend: HFBackend) -> None:
        self.b = backend
        self.model = backend.model
        self.tokenizer = backend.tokenizer

    def _reset(self) -> None:
        for _, module in rotary_modules(self.model):
            reset_rotary_state(module)

    def _batches(self, items: Sequence[Sequence[int]]) -> Iterator[list[int]]:
        """Indices grouped by sequence length (no padding needed), in batches of batch_size."""
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, ids in enumerate(items):
            by_len[len(ids)].append(i)
        size = self.b.cfg.batch_size
        for length in sorted(by_len):
            idx = by_len[length]
            for k in range(0, len(idx), size):
                yield idx[k : k + size]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        from transformers import GenerationConfig

        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        gen_cfg = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad
        )
        results: list[Generation | None] = [None] * len(prompts)
        for batch in self._batches(prompts):
            self._reset()
            ids = torch.tensor([list(prompts[i]) for i in batch], device=self.b.device)
            out = self.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen_cfg
            )
            for row, i in enumerate(batch):
                new = out[row, ids.shape[1] :].tolist()
                if eos is not None and eos in new:
                    new = new[: new.index(eos)]
                results[i] = Generation(self.tokenizer.decode(new, skip_special_tokens=True), new)
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def token_nll(
        self, sequences: Sequence[Sequence[int]], score_from: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        starts = list(score_from) if score_from is not None else [1] * len(sequences)
        if any(s < 1 for s in starts):
            raise ValueError("score_from must be >= 1 (the first token has no prediction)")
        if not self.b._head_checked:
            self._check_head(sequences[0])
        results: list[np.ndarray | None] = [None] * len(sequences)
        decoder = self.model.get_decoder()
        for batch in self._batches(sequences):
            self._reset()
            ids = torch.tensor([list(sequences[i]) for i in batch], device=self.b.device)
            hidden = decoder(input_ids=ids, use_cache=False).last_hidden_state
            for row, i in enumerate(batch):
                results[i] = self._nll_from_hidden(hidden[row], ids[row], starts[i])
        return [r for r in results if r is not None]

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden).float()
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def _nll_from_hidden(self, hidden: torch.Tensor, ids: torch.Tensor, start: int) -> np.ndarray:
        chunk = self.b.cfg.nll_chunk_tokens
        parts = []
        for t0 in range(start, ids.shape[0], chunk):
            t1 = min(t0 + chunk, ids.shape[0])
            logits = self._logits(hidden[t0 - 1 : t1 - 1])
            nll = torch.nn.functional.cross_entropy(logits, ids[t0:t1], reduction="none")
            parts.append(nll.double().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros(0)

    def _check_head(self, sample: Sequence[int]) -> None:
        """Once per model: chunked logits must equal the model's own forward (catches unusual heads)."""
        ids = torch.tensor([list(sample[:16])], device=self.b.device)
        self._reset()
        reference = self.model(input_ids=ids, use_cache=False).logits[0].float()
        hidden = self.model.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state[0]
        ours = self._logits(hidden)
        if not torch.allclose(ours, reference, rtol=1e-3, atol=1e-3):
            raise HeadMismatchError(
                f"{type(self.model).__name__}: logits from hidden states differ from the model's forward; "
                "its output head is not supported by the chunked NLL path"
            )
        self.b._head_checked = True
