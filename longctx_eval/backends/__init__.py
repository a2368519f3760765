"""Backends: load a model once, apply a RoPE setting per group of cells, serve `LanguageModel`.

The registry maps a `backend.kind` to its (torch-free) config model and to the module that
implements it, imported only when a sweep runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from longctx_eval.registry import Registry, import_object

if TYPE_CHECKING:
    from longctx_eval.lm import LanguageModel
    from longctx_eval.rope.methods import RopeSetting


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    def identity(self) -> dict[str, Any]:
        """Settings that change results (they go into cell ids); speed knobs stay out."""
        return {"kind": self.kind}

    def generation_policy(self, setting: RopeSetting | None = None) -> str:
        """How generation treats a rotary whose frequencies depend on the length (recorded, and
        part of the cell ids of such cells): see HFConfig.length_policy. A method entry's own
        `generation` (carried by its setting) takes precedence where the backend runs it."""
        return "static"

    def generation_policies(self) -> tuple[str, ...]:
        """The policies a method entry's `generation` may name on this backend."""
        return ()


class HFConfig(BackendConfig):
    kind: Literal["hf"] = "hf"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "float32", description="weights and activations dtype ('auto': as saved)"
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
        description="'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1', 'mps'",
    )
    batch_size: PositiveInt = Field(8, description="prompts per forward pass (equal lengths only)")
    nll_chunk_tokens: PositiveInt = Field(
        1024, description="positions per chunk when turning hidden states into token NLLs"
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = Field(
        None, description="transformers attention kernel (default: transformers' choice)"
    )
    threads: PositiveInt | None = Field(
        None, description="torch CPU threads (default: the CPUs this process may use: affinity, cgroup quota)"
    )
    prefix_reuse: bool = Field(
        True,
        description="compute once the prefix a batch's prompts share (NIAH and passkey haystacks) where a "
        "count of the work says it saves time; float32 on a CPU only for now (checked to give the same "
        "tokens there); off for dynamic NTK/LongRoPE",
    )
    length_policy: Literal["prompt", "served", "transformers", "exact"] = Field(
        "prompt",
        description="generating with dynamic NTK / LongRoPE: 'prompt' picks the frequencies once for the "
        "prompt's length; 'served' uses what a vLLM server uses at every length (LongRoPE's long factors "
        "once the engine serves more than L tokens, dynamic NTK's one base at L·factor; also for "
        "perplexity); 'transformers' recomputes them at every step while cached keys keep their old "
        "rotation (plain HF generate); 'exact' re-encodes the whole sequence at every step (slow). "
        "A method entry's `generation` overrides it for that method",
    )

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype}

    def generation_policy(self, setting: RopeSetting | None = None) -> str:
        return (setting.generation if setting is not None else None) or self.length_policy

    def generation_policies(self) -> tuple[str, ...]:
        return ("prompt", "served", "transformers", "exact")


class VLLMConfig(BackendConfig):
    kind: Literal["vllm"] = "vllm"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights and activations dtype ('auto': as saved)"
    )
    tensor_parallel_size: PositiveInt = Field(1, description="GPUs one engine spans")
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="share of GPU memory (on CPU: of RAM) the engine takes; default 0.9 (CPU 0.5)",
    )
    max_num_seqs: PositiveInt | None = Field(None, description="requests scheduled together (vLLM's default)")
    max_num_batched_tokens: PositiveInt | None = Field(
        None, description="tokens per scheduler step; bounds prompt-logprob memory (vLLM's default)"
    )
    enforce_eager: bool | None = Field(
        None, description="no CUDA graphs / compilation (default: on CPU only)"
    )
    enable_prefix_caching: bool = Field(
        True, description="reuse KV of shared prompt prefixes (NIAH haystacks)"
    )
    cpu_kv_cache_gib: PositiveFloat = Field(
        1.0, description="CPU engine: KV cache GiB (VLLM_CPU_KVCACHE_SPACE, if unset)"
    )
    request_chunk: PositiveInt = Field(64, description="prompts handed to the engine per call")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="other vLLM EngineArgs, passed through (checked against vLLM's)"
    )
    longrope_short_engine: bool = Field(
        False,
        description="LongRoPE: serve requests within L from a second engine sized to L (short factors, as "
        "transformers uses them there). A vLLM server does not: one engine longer than L uses the long "
        "factors at every position (the default, policy 'served'). Recorded as policy 'short_factor_engine'",
    )

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype}

    def generation_policy(self, setting: RopeSetting | None = None) -> str:
        longrope = setting is not None and setting.rope_parameters.get("rope_type") == "longrope"
        return "short_factor_engine" if self.longrope_short_engine and longrope else "served"

    def generation_policies(self) -> tuple[str, ...]:
        return ("served",)


class ModelSource(Protocol):
    """What a backend reads of a sweep's model entry (`config.ModelEntry`), named here so that the
    config module, which registers these backends' settings, is not imported back."""

    @property
    def name(self) -> str: ...

    @property
    def revision(self) -> str | None: ...

    @property
    def trust_remote_code(self) -> bool: ...


class LoadedModel(Protocol):
    tokenizer: Any
    config: Any  # the model's own transformers config (unscaled)


class Backend(Protocol):
    def load(self, model: ModelSource, path: str) -> LoadedModel:
        """Load weights and tokenizer once per model."""
        ...

    def unservable(self, setting: RopeSetting, length: int, new_tokens: int) -> str | None:
        """Why a request of `length` prompt tokens and `new_tokens` to generate cannot be served
        with this setting (the cell is then recorded as skipped), or None."""
        ...

    def apply(self, setting: RopeSetting, max_tokens: int) -> LanguageModel:
        """Put a RoPE setting in place and return the model to query; `max_tokens` is the longest
        request (prompt + generation) the group will make."""
        ...

    def unload(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """What a record says about the backend that produced it."""
        ...


@dataclass(frozen=True)
class BackendInfo:
    name: str
    config_model: type[BackendConfig]
    module: str  # imported lazily: "module:Class"
    summary: str
    check: str | None = None  # "module:function" returning config problems that need the library

    def problems(self, config: BackendConfig) -> list[tuple[str, str]]:
        if self.check is None:
            return []
        result: list[tuple[str, str]] = import_object(self.check)(config)
        return result

    def create(self, config: BackendConfig) -> Backend:
        backend: Backend = import_object(self.module)(config)
        return backend


BACKENDS: Registry[BackendInfo] = Registry("backend")
BACKENDS.add(
    "hf", BackendInfo("hf", HFConfig, "longctx_eval.backends.hf:HFBackend", "transformers, in-process")
)
BACKENDS.add(
    "vllm",
    BackendInfo(
        "vllm",
        VLLMConfig,
        "longctx_eval.backends.vllm_engine:VLLMBackend",
        "vLLM engine, one per model × method@factor (GPU, or the CPU build)",
        check="longctx_eval.backends.vllm_engine:check_config",
    ),
)
