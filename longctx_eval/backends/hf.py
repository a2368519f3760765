"""The transformers backend: weights loaded once per model, the rotary module swapped per method.

Only the rotary-embedding module changes between methods: it is rebuilt from a scaled copy of the
model's config, exactly as `from_pretrained` with that config would build it (a test checks the
logits match a fresh load). Token NLLs come from the decoder's hidden states, turned into logits a
chunk of positions at a time, so a (tokens × vocab) logits tensor is never materialised.
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from longctx_eval.backends import HFConfig
from longctx_eval.backends.kv_cache import InPlaceLayer, kv_cache
from longctx_eval.backends.prefix_sharing import PrefixSharing, contended
from longctx_eval.config import ModelEntry
from longctx_eval.lm import Generation, NonFiniteError, check_finite
from longctx_eval.models import load_causal_lm
from longctx_eval.rope.base import scaled_config
from longctx_eval.rope.frequencies import reset_rotary_state, rotary_modules
from longctx_eval.rope.methods import RopeSetting
from longctx_eval.threads import available_cpus


class HeadMismatchError(RuntimeError):
    pass


class HFBackend:
    def __init__(self, config: HFConfig) -> None:
        self.cfg = config
        # Not more than the CPUs this process may use (torch's default is all of the machine's cores;
        # see threads.py); a Ray actor has already set its own share, which this keeps.
        torch.set_num_threads(config.threads or min(torch.get_num_threads(), available_cpus()))
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        )
        _check_device(self.device)
        self.model: Any = None
        self.tokenizer: Any = None
        self.config: Any = None
        self.weight_loads = 0  # how many times weights were read from disk (benchmarks check it)
        self.prompt_tokens = 0  # tokens of the prompts generated from
        self.prefill_tokens = 0  # ... of which computed in prefill (the rest came from a shared prefix)

    def describe(self) -> dict[str, Any]:
        import transformers

        return {
            "kind": "hf",
            "dtype": self.cfg.dtype,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }

    def load(self, model: ModelEntry, path: str) -> HFBackend:
        self.unload()
        loaded, self.tokenizer = load_causal_lm(
            path,
            self.cfg.dtype,
            revision=model.revision,
            trust_remote_code=model.trust_remote_code,
            attn_implementation=self.cfg.attn_implementation,
        )
        self.model = loaded.to(self.device)
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
        return HFLanguageModel(self, setting)


def _check_device(device: torch.device) -> None:
    from longctx_eval.errors import EnvironmentProblem

    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentProblem(
                f"device {device} was asked for, but torch {torch.__version__} sees no CUDA device"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EnvironmentProblem(f"device {device}: only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise EnvironmentProblem("device mps was asked for, but this torch has no MPS support here")


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


class OutOfMemory(RuntimeError):
    """Even a batch of one does not fit; the cell is recorded as failed with reason `oom`."""

    reason = "oom"


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class HFLanguageModel:
    """`LanguageModel` over the backend's current model and rotary setting.

    Batches hold prompts of one length (no padding), sorted by length; when a batch does not fit
    in memory it is halved and retried, down to one prompt. The KV cache of a batch is allocated
    once for the prompt and every token to generate, so a decoding step writes its keys in place
    instead of copying the whole cache (transformers' DynamicCache concatenates at every step).

    Prompts that share a long prefix (NIAH and passkey prompts of one length share their haystack
    up to the needle) are grouped into the same number of batches as plain batching makes, so
    decoding costs the same; within a batch the shared prefix is computed once and copied into
    every row's cache, and only the rows' tails are computed (see `prefix_sharing.py`). A batch is
    shared only where a count of the work says it pays, and never for rotaries whose frequencies
    depend on the sequence length (dynamic NTK, LongRoPE: a cached prefix would carry another
    length's rotation).
    """

    def __init__(self, backend: HFBackend, setting: RopeSetting | None = None) -> None:
        self.b = backend
        self.model = backend.model
        self.tokenizer = backend.tokenizer
        self.setting = setting
        self.length_dependent = setting is not None and setting.length_dependent

    @property
    def torch_model(self) -> Any:
        """The transformers model with this setting's rotary module in place (see `Introspectable`)."""
        self._reset()
        return self.model

    def _reset(self) -> None:
        for _, module in rotary_modules(self.model):
            reset_rotary_state(module)

    def _in_batches(
        self,
        items: Sequence[Sequence[int]],
        run: Callable[[list[int]], None],
        plan: Callable[[list[int], int], list[list[int]]] | None = None,
    ) -> None:
        """Call `run` on index batches of equal-length items, halving a batch that runs out of memory.

        `plan` splits one length's items into batches of at most the given size (default: slices
        in the given order); after running out of memory the remaining items are split again."""
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, ids in enumerate(items):
            by_len[len(ids)].append(i)
        size = self.b.cfg.batch_size
        split = plan or _slices
        for length in sorted(by_len):
            batches = split(by_len[length], size)
            while batches:
                batch = batches[0]
                try:
                    self._reset()
                    run(batch)
                except Exception as exc:
                    if not is_oom(exc):
                        raise
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    if size == 1:
                        raise OutOfMemory(
                            f"one sequence of {length} tokens does not fit in memory ({exc})"
                        ) from exc
                    size = max(1, size // 2)
                    batches = split([i for b in batches for i in b], size)
                    continue
                batches.pop(0)

    def _generation_config(self, max_new_tokens: int) -> Any:
        from transformers import GenerationConfig

        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        return GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad
        )

    def _generation(self, new: list[int]) -> Generation:
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in new:
            new = new[: new.index(eos)]
        return Generation(self.tokenizer.decode(new, skip_special_tokens=True), new)

    def _own_cache(self) -> bool:
        """Whether generate may be handed our KV cache: not under 'exact' (it re-encodes every step,
        no cache), nor for a model whose generation config names its own cache implementation
        (transformers refuses a cache passed beside one)."""
        own = getattr(self.model.generation_config, "cache_implementation", None)
        return self.policy != "exact" and own in (None, "hybrid")

    def _shares_prefixes(self) -> bool:
        """Whether prompts' shared prefixes may be computed once: asked for, our own cache, a rotary
        that does not depend on the length, full attention in every layer (a sliding-window cache
        cannot be cut back to a prefix), float32 on a CPU. Sharing changes the shapes of the
        computation (the prefix at batch size 1, masked tails), so outputs equal plain batching's
        only as far as the kernels round alike across shapes: checked in float32 on a CPU (tests,
        benchmarks); elsewhere plain batching until it is measured there. And not while spinning
        OpenMP threads contend with other work for the cores (`prefix_sharing.contended`)."""
        return (
            self.b.cfg.prefix_reuse
            and self._own_cache()
            and not self.length_dependent
            and self.b.device.type == "cpu"
            and self.model.dtype == torch.float32
            and all(type(layer) is InPlaceLayer for layer in kv_cache(self.model, 1).layers)
            and not contended()
        )

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        gen_cfg = self._generation_config(max_new_tokens)
        rows = [list(p) for p in prompts]
        results: list[Generation | None] = [None] * len(rows)
        sharing = PrefixSharing(self.model, rows, max_new_tokens) if self._shares_prefixes() else None

        def run(batch: list[int]) -> None:
            ids = torch.tensor([rows[i] for i in batch], device=self.b.device)
            kwargs: dict[str, Any] = {}
            computed = ids.numel()
            if sharing is not None:
                kwargs["past_key_values"], computed = sharing.cache_for(batch, ids)
            elif self._own_cache():
                kwargs["past_key_values"] = kv_cache(self.model, ids.shape[1] + max_new_tokens)
            out = self._run_generate(
                batch, input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen_cfg, **kwargs
            )
            for row, i in enumerate(batch):
                results[i] = self._generation(out[row, ids.shape[1] :].tolist())
            self.b.prefill_tokens += computed

        self._in_batches(rows, run, sharing.batches if sharing is not None else None)
        self.b.prompt_tokens += sum(len(p) for p in rows)
        return [r for r in results if r is not None]

    @property
    def policy(self) -> str:
        """How a length-dependent rotary (dynamic NTK, LongRoPE) is treated while generating."""
        return self.b.cfg.generation_policy(self.setting) if self.length_dependent else "transformers"

    def _served(self) -> contextlib.AbstractContextManager[None]:
        """Under the `served` policy, the frequencies a vLLM server uses (backends/served.py)."""
        if self.policy != "served" or self.setting is None:
            return contextlib.nullcontext()
        from longctx_eval.backends.served import served_frequencies, served_length

        return served_frequencies(self.model, served_length(self.setting))

    def _run_generate(self, batch: list[int], **kwargs: Any) -> torch.Tensor:
        """model.generate under the length policy, refusing non-finite logits: a NaN model would
        otherwise emit the same token every step and score 0, blamed on the method."""
        policy = self.policy
        if policy == "exact":  # no cache: every step re-encodes the whole sequence at its length
            kwargs["use_cache"] = False
        frozen = frozen_after_prefill(self.model) if policy == "prompt" else self._served()
        with frozen:
            out = self.model.generate(**kwargs, output_logits=True, return_dict_in_generate=True)
        for step, logits in enumerate(out.logits):
            finite = torch.isfinite(logits).all(dim=-1)
            if not bool(finite.all()):
                row = int((~finite).nonzero()[0, 0])
                raise NonFiniteError(
                    f"non-finite logits while generating token {step} for prompt {batch[row]}"
                )
        sequences: torch.Tensor = out.sequences
        return sequences

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

        def run(batch: list[int]) -> None:
            ids = torch.tensor([list(sequences[i]) for i in batch], device=self.b.device)
            with self._served():
                hidden = decoder(input_ids=ids, use_cache=False).last_hidden_state
            for row, i in enumerate(batch):
                nll = self._nll_from_hidden(hidden[row], ids[row], starts[i])
                results[i] = check_finite(nll, f"NLL of sequence {i} (from token {starts[i]})")

        self._in_batches(sequences, run)
        return [r for r in results if r is not None]

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden).float()
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        out: torch.Tensor = logits
        return out

    def _nll_from_hidden(self, hidden: torch.Tensor, ids: torch.Tensor, start: int) -> np.ndarray:
        chunk = self.b.cfg.nll_chunk_tokens
        parts = []
        into = self._chunk_buffers(hidden, min(chunk, max(0, ids.shape[0] - start)))
        for t0 in range(start, ids.shape[0], chunk):
            t1 = min(t0 + chunk, ids.shape[0])
            if into is None:
                logits = self._logits(hidden[t0 - 1 : t1 - 1])
                nll = torch.nn.functional.cross_entropy(logits, ids[t0:t1], reduction="none")
            else:
                nll = _nll_into(hidden[t0 - 1 : t1 - 1], ids[t0:t1], *into)
            parts.append(nll.double().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros(0)

    def _chunk_buffers(self, hidden: torch.Tensor, rows: int) -> tuple[torch.Tensor, ...] | None:
        """(head weight, logits buffer, log-probabilities buffer) for `_nll_into`, where it gives
        exactly what `_logits` and cross_entropy give: a float32 model on a CPU whose head is a
        plain linear map (no bias, no soft-capping). Else None: the general path."""
        head = self.model.get_output_embeddings()
        plain = (
            type(head) is torch.nn.Linear
            and head.bias is None
            and head.weight.dtype == hidden.dtype == torch.float32
            and not getattr(self.model.config, "final_logit_softcapping", None)
        )
        if not plain or hidden.device.type != "cpu" or rows == 0:
            return None
        shape = (rows, head.weight.shape[0])
        return head.weight, hidden.new_empty(shape), hidden.new_empty(shape)

    def _check_head(self, sample: Sequence[int]) -> None:
        """Once per model: chunked logits must equal the model's own forward (catches unusual heads)."""
        ids = torch.tensor([list(sample[:16])], device=self.b.device)
        self._reset()
        reference = self.model(input_ids=ids, use_cache=False).logits[0].float()
        # A model whose logits are NaN is broken, not unsupported (NaN never compares equal).
        finite_rows = torch.isfinite(reference).all(dim=-1).double().cpu().numpy()
        check_finite(np.where(finite_rows > 0, 0.0, np.nan), "logits of the model's own forward")
        hidden = self.model.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state[0]
        ours = self._logits(hidden)
        if not torch.allclose(ours, reference, rtol=1e-3, atol=1e-3):
            raise HeadMismatchError(
                f"{type(self.model).__name__}: logits from hidden states differ from the model's forward; "
                "its output head is not supported by the chunked NLL path"
            )
        self.b._head_checked = True


@contextlib.contextmanager
def frozen_after_prefill(model: torch.nn.Module) -> Iterator[None]:
    """The `prompt` length policy: a length-dependent rotary picks its frequencies once, for the
    prompt (the first forward pass of a `generate`), and keeps them for every generated token.

    transformers recomputes dynamic NTK's frequencies, and switches LongRoPE from short to long
    factors, whenever a forward pass reaches a longer position, while the keys already in the KV
    cache keep their old rotation (transformers issue #25104): the cache then holds two rotations
    at once. Its rotary forward updates only for rope types named dynamic or longrope, so after
    the prefill the module's `rope_type` is set aside for the rest of the call.
    """
    modules = [m for _, m in rotary_modules(model)]
    saved = [m.rope_type for m in modules]
    handles = []

    def freeze(module: Any, args: Any, output: Any) -> None:
        module.rope_type = "frozen"  # anything not dynamic/longrope: no more updates

    for m in modules:
        handles.append(m.register_forward_hook(freeze))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for m, rope_type in zip(modules, saved, strict=True):
            m.rope_type = rope_type


def _nll_into(
    hidden: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, logits: torch.Tensor, logp: torch.Tensor
) -> torch.Tensor:
    """Token NLLs of one chunk through two buffers reused for every chunk: the same matrix product
    and the same log-softmax and gather as `linear` and `cross_entropy` (bit for bit; a test checks
    it), without a fresh (tokens × vocab) allocation for each (on a CPU, every new block of that
    size is fresh pages from the OS, faulted in and zeroed: a fifth of the NLL's time at 8k
    tokens, vocabulary 32k)."""
    n = hidden.shape[0]
    torch.mm(hidden, weight.t(), out=logits[:n])
    torch.ops.aten._log_softmax.out(logits[:n], -1, False, out=logp[:n])
    nll: torch.Tensor = torch.nn.functional.nll_loss(logp[:n], target, reduction="none")
    return nll


def _slices(items: list[int], size: int) -> list[list[int]]:
    return [items[k : k + size] for k in range(0, len(items), size)]
