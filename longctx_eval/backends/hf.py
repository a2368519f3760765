"""The transformers backend: weights loaded once per model, the rotary module swapped per method.

Only the rotary-embedding module changes between methods: it is rebuilt from a scaled copy of the
model's config, exactly as `from_pretrained` with that config would build it (a test checks the
logits match a fresh load). Token NLLs come from the decoder's hidden states, turned into logits a
chunk of positions at a time, so a (tokens × vocab) logits tensor is never materialised.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from longctx_eval.backends import HFConfig
from longctx_eval.config import ModelEntry
from longctx_eval.lm import Generation, NonFiniteError, check_finite
from longctx_eval.rope.base import scaled_config
from longctx_eval.rope.frequencies import reset_rotary_state, rotary_modules
from longctx_eval.rope.methods import RopeSetting
from longctx_eval.threads import available_cpus

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


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
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        # transformers' "Loading weights" bar would be drawn through the harness's own progress display.
        hf_logging.disable_progress_bar()
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
        return HFLanguageModel(self, setting)


def _check_device(device: torch.device) -> None:
    from longctx_eval.config import EnvironmentProblem

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


# Below this many shared tokens a prefix is not worth computing apart (nor the bookkeeping).
_MIN_SHARED_PREFIX = 32


class HFLanguageModel:
    """`LanguageModel` over the backend's current model and rotary setting.

    Batches hold prompts of one length (no padding), sorted by length; when a batch does not fit
    in memory it is halved and retried, down to one prompt. The KV cache of a batch is allocated
    once for the prompt and every token to generate, so a decoding step writes its keys in place
    instead of copying the whole cache (transformers' DynamicCache concatenates at every step).

    Prompts that share a long prefix (NIAH and passkey prompts of one length share their haystack
    up to the needle) are grouped into the same number of batches as plain batching makes, so
    decoding costs the same; within a batch the shared prefix is computed once and copied into
    every row's cache, and only the rows' tails are computed (see `_PrefixSharing`). A batch is
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
        benchmarks); elsewhere plain batching until it is measured there."""
        return (
            self.b.cfg.prefix_reuse
            and self._own_cache()
            and not self.length_dependent
            and self.b.device.type == "cpu"
            and self.model.dtype == torch.float32
            and all(type(layer) is _InPlaceLayer for layer in kv_cache(self.model, 1).layers)
        )

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        gen_cfg = self._generation_config(max_new_tokens)
        rows = [list(p) for p in prompts]
        results: list[Generation | None] = [None] * len(rows)
        sharing = _PrefixSharing(self.model, rows, max_new_tokens) if self._shares_prefixes() else None

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
        return logits

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


def _common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix, by bisection on slices (compared in C, not per token)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # a[:lo] == b[:lo]; no common prefix is longer than hi
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _slices(items: list[int], size: int) -> list[list[int]]:
    return [items[k : k + size] for k in range(0, len(items), size)]


class _InPlaceLayer(DynamicLayer):
    """A full-attention layer's KV cache in one buffer sized for the whole request (prompt and
    new tokens): each forward pass writes its keys and values in place. transformers' DynamicLayer
    concatenates instead, copying the whole cache at every decoding step (a fifth of a 1k-token
    NIAH cell's time on the reference model, and twice the cache's memory at the moment of the
    copy). Attention then reads a view of the buffer: the same values, without the copy."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = self.get_seq_length()
        m = n + key_states.shape[-2]
        if not self._holds(key_states, m):
            self._grow(key_states, value_states, n, m)
        assert self._buffers is not None
        keys, values = self._buffers
        keys[..., n:m, :] = key_states
        values[..., n:m, :] = value_states
        self.keys, self.values = keys[..., :m, :], values[..., :m, :]
        return self.keys, self.values

    def _holds(self, key_states: torch.Tensor, m: int) -> bool:
        """The buffer is there, big enough, and still what `keys` views (not replaced by a reorder)."""
        if self._buffers is None or self.keys is None:
            return False
        buffer = self._buffers[0]
        return (
            m <= buffer.shape[-2]
            and buffer.shape[0] == key_states.shape[0]
            and (self.keys.numel() == 0 or self.keys.data_ptr() == buffer.data_ptr())
        )

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, n: int, m: int) -> None:
        old = self._buffers[0].shape[-2] if self._buffers is not None else 0
        # Past the planned size (not in this harness's use): double. Replaced by a reorder (beam
        # search), or a new batch size: the same size again.
        size = max(m, self.capacity, 2 * old if m > old else old)
        keys = key_states.new_empty((*key_states.shape[:-2], size, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:-2], size, value_states.shape[-1]))
        if n:
            assert self.keys is not None and self.values is not None
            keys[..., :n, :] = self.keys
            values[..., :n, :] = self.values
        self._buffers = keys, values


def kv_cache(model: Any, capacity: int) -> Any:
    """A DynamicCache for `model` whose full-attention layers write in place (`_InPlaceLayer`);
    other kinds of layer (sliding windows, linear attention) keep transformers' own."""
    cache = DynamicCache(config=model.config)
    cache.layers = [
        _InPlaceLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


# A query chunk attending to cached keys gets an explicit mask; its elements (rows × queries × keys)
# are kept below this so that a 32k-token context does not need a mask of gigabytes.
_MASK_ELEMENTS = 2**26
# Counted attention work of a masked query chunk over the causal flag's (the kernel visits every
# pair of the rectangle, and reads the mask); measured 1.07 on the reference model's shapes.
_MASKED = 1.15
# Share a batch's prefix only when the count says it saves at least this fraction: the count is
# rough, and plain batching must never lose.
_MARGIN = 0.9


@dataclass(frozen=True)
class _Costs:
    """A rough count of a forward pass's work, in FLOPs, to decide whether sharing a prefix pays."""

    dense: float  # per token through the decoder layers: 2 × their weights
    pair: float  # per query-key pair of attention: QKᵀ and PV over all layers and heads
    call: float  # fixed cost of one forward call (Python, kernel launches): ~1 ms a layer, 2 cores

    @classmethod
    def of(cls, model: Any) -> _Costs:
        config = model.config.get_text_config()
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        weights = sum(p.numel() for p in model.get_decoder().parameters())
        weights -= model.get_input_embeddings().weight.numel()
        return cls(2.0 * weights, 4.0 * layers * heads * head_dim, 1e8 * layers)

    def run(self, rows: int, start: int, end: int, chunks: int) -> float:
        """Positions [start, end) of `rows` sequences in `chunks` equal calls after `start` cached."""
        if end <= start:
            return 0.0
        bounds = _bounds(start, end, chunks)
        pairs = 0.0
        for a, z in itertools.pairwise(bounds):
            if a == 0:
                pairs += z * (z + 1) / 2  # the causal flag: the triangle only
            elif z - a == 1:
                pairs += z  # one query: no mask
            else:
                pairs += _MASKED * (z - a) * z
        return (len(bounds) - 1) * self.call + rows * (self.dense * (end - start) + self.pair * pairs)

    def chunks(self, rows: int, start: int, end: int) -> int:
        """Calls to cut [start, end) into after `start` cached: the fewest that keep the mask small,
        else as many as balance the masked squares' waste against the calls' fixed cost."""
        tokens = end - start
        if start == 0 or tokens <= 1:
            return 1
        least = -(-rows * tokens * end // _MASK_ELEMENTS)
        best = math.sqrt(rows * self.pair * _MASKED * tokens * tokens / (2 * self.call))
        return max(1, min(tokens, max(least, round(best))))

    def sharing(self, rows: int, n: int, shared: int, have: int) -> tuple[int, int] | None:
        """(prefix calls, tail calls) when computing the `shared` prefix once (from `have` already
        cached) saves enough over plain batching of `rows` prompts of `n` tokens, else None."""
        p = self.chunks(1, have, shared)
        t = self.chunks(rows, shared, n - 1)
        cost = self.run(1, have, shared, p) + self.run(rows, shared, n - 1, t) + self.run(rows, n - 1, n, 1)
        return (p, t) if cost <= _MARGIN * self.run(rows, 0, n, 1) else None


def _bounds(start: int, end: int, chunks: int) -> list[int]:
    return sorted({start + (end - start) * k // chunks for k in range(chunks + 1)})


def _forward(model: Any, cache: Any, ids: torch.Tensor, start: int, end: int, chunks: int) -> None:
    """Run positions [start, end) of `ids` through the decoder into `cache` (which holds [0, start)),
    in `chunks` calls; no logits (only the cache is wanted)."""
    decoder = model.get_decoder()
    for a, z in itertools.pairwise(_bounds(start, end, chunks)):
        decoder(input_ids=ids[:, a:z], past_key_values=cache, use_cache=True)


class _PrefixSharing:
    """Computing once the prefix that a batch's prompts share.

    Batching: the prompts of one length are cut into as many batches as plain batching makes, so
    decoding costs the same, grouped so that the tokens shared within batches are most
    (`shared_prefix_batches`: NIAH's deepest needles together, then the shallower ones).

    A batch: its common prefix is computed at batch size 1 — or cut back from the previous batch's
    prefix where that one extends it, as it does when batches go from deep needles to shallow ones
    — copied into every row's cache, and the rows' tails run through the decoder; `generate` then
    starts from the last prompt token. A tail after cached keys cannot use attention's causal flag
    (it is aligned top-left), so transformers passes a mask and the kernel computes the whole
    query × key rectangle: the tail goes in chunks, each wasting half of its own square only. The
    result is the same as plain batching (a test checks it, and the benchmarks on NIAH and
    passkey), the work is less, and a batch is shared only when `_Costs` says it saves a tenth.
    """

    def __init__(self, model: Any, rows: list[list[int]], new_tokens: int) -> None:
        self.model, self.rows, self.new_tokens = model, rows, new_tokens
        self.costs = _Costs.of(model)
        self.prefix: Any = None  # KV cache (batch size 1) of `prefix_ids`
        self.prefix_ids: list[int] = []

    def batches(self, items: list[int], size: int) -> list[list[int]]:
        return shared_prefix_batches(self.rows, items, size)

    def cache_for(self, batch: list[int], ids: torch.Tensor) -> tuple[Any, int]:
        """The batch's KV cache, holding all but the last prompt token when a prefix is shared (else
        empty), and how many prompt tokens it leaves to compute or computed."""
        n_rows, n = ids.shape
        first = self.rows[batch[0]]
        shared = min([_common_prefix(first, self.rows[i]) for i in batch[1:]] + [n - 1])
        have = _common_prefix(self.prefix_ids, first[:shared]) if self.prefix is not None else 0
        have = have if have >= _MIN_SHARED_PREFIX else 0
        plan = self.costs.sharing(n_rows, n, shared, have) if shared >= _MIN_SHARED_PREFIX else None
        cache = kv_cache(self.model, n + self.new_tokens)
        if plan is None:
            return cache, ids.numel()
        try:
            self._extend_prefix(ids[:1], shared, have, plan[0])
            for layer, source in zip(cache.layers, self.prefix.layers, strict=True):
                layer.update(source.keys.expand(n_rows, -1, -1, -1), source.values.expand(n_rows, -1, -1, -1))
            _forward(self.model, cache, ids, shared, n - 1, plan[1])
        except BaseException:
            self.prefix, self.prefix_ids = None, []  # perhaps half extended: start afresh next time
            raise
        return cache, (shared - have) + n_rows * (n - shared)

    def _extend_prefix(self, first: torch.Tensor, shared: int, have: int, chunks: int) -> None:
        if have == 0:
            self.prefix = kv_cache(self.model, first.shape[1])
        else:
            self.prefix.crop(have - self.prefix.get_seq_length())  # negative: drop what is not shared
        _forward(self.model, self.prefix, first, have, shared, chunks)
        self.prefix_ids = first[0, :shared].tolist()


def shared_prefix_batches(rows: Sequence[list[int]], items: list[int], size: int) -> list[list[int]]:
    """`items` (indices of equal-length `rows`) in ⌈n / size⌉ batches of at most `size`, grouped so
    that the tokens the batches' rows share with each other, Σ (rows − 1) × common prefix, are most.

    Rows are ordered by how long a prefix each shares with any other (then lexicographically): for
    prompts that differ from their needle on, that is deepest needle first, and any run of that
    order shares the prefix of its shallowest needle. A dynamic programme then picks where to cut
    the order. The common prefix of any two rows is the least common prefix of lexicographic
    neighbours between them (a range minimum), so only n − 1 prefixes are ever compared.
    """
    n = len(items)
    k = -(-n // size)
    if k <= 1:
        return [list(items)] if items else []
    lex = sorted(items, key=lambda i: rows[i])
    rank = {i: t for t, i in enumerate(lex)}
    neighbours = [_common_prefix(rows[a], rows[b]) for a, b in itertools.pairwise(lex)]
    reach = {i: max(neighbours[max(t - 1, 0)], neighbours[min(t, n - 2)]) for t, i in enumerate(lex)}
    order = sorted(items, key=lambda i: (-reach[i], rank[i]))
    common = _RangeMin(neighbours)
    # best[(j, m)]: (tokens shared, where the last batch starts) for order[:j] in m batches
    best: dict[tuple[int, int], tuple[int, int]] = {(0, 0): (0, 0)}
    for j in range(1, n + 1):
        last = rank[order[j - 1]]
        shared = len(rows[order[j - 1]])
        for i in range(j - 1, max(-1, j - size - 1), -1):
            if i < j - 1:
                r = rank[order[i]]
                shared = min(shared, common.query(min(r, last), max(r, last)))
            gain = (j - i - 1) * shared if j - i > 1 else 0
            for m in range(max(1, -(-j // size)), k - (-(-(n - j) // size)) + 1):
                prev = best.get((i, m - 1))
                if prev is not None and (best.get((j, m)) is None or prev[0] + gain > best[(j, m)][0]):
                    best[(j, m)] = (prev[0] + gain, i)
    out = []
    j, m = n, k
    while j > 0:
        i = best[(j, m)][1]
        out.append(order[i:j])
        j, m = i, m - 1
    return out[::-1]


class _RangeMin:
    """Minimum of any range of a fixed list in O(1), after O(n log n) preparation (a sparse table)."""

    def __init__(self, values: list[int]) -> None:
        self.levels = [list(values)]
        width = 1
        while 2 * width <= len(values):
            prev = self.levels[-1]
            self.levels.append([min(prev[i], prev[i + width]) for i in range(len(prev) - width)])
            width *= 2

    def query(self, lo: int, hi: int) -> int:
        """min(values[lo:hi]), lo < hi."""
        level = (hi - lo).bit_length() - 1
        row = self.levels[level]
        return min(row[lo], row[hi - (1 << level)])
