"""Backends: load a model once, apply a RoPE setting per group of cells, serve `LanguageModel`.

The registry maps a `backend.kind` to its (torch-free) config model and to the module that
implements it, imported only when a sweep runs on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from longctx_eval.registry import Registry

if TYPE_CHECKING:
    from longctx_eval.config import ModelEntry
    from longctx_eval.lm import LanguageModel
    from longctx_eval.rope.methods import RopeSetting


class BackendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    def identity(self) -> dict[str, Any]:
        """Settings that change results (they go into cell ids); speed knobs stay out."""
        return {"kind": self.kind}


class HFConfig(BackendConfig):
    kind: Literal["hf"] = "hf"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "float32", description="weights and activations dtype ('auto': as saved)"
    )
    device: str = Field("auto", description="'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1'")
    batch_size: PositiveInt = Field(8, description="prompts per forward pass (equal lengths only)")
    nll_chunk_tokens: PositiveInt = Field(
        1024, description="positions per chunk when turning hidden states into token NLLs"
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = Field(
        None, description="transformers attention kernel (default: transformers' choice)"
    )
    threads: PositiveInt | None = Field(None, description="torch CPU threads (default: torch's choice)")

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype}


class LoadedModel(Protocol):
    tokenizer: Any
    config: Any  # the model's own transformers config (unscaled)


class Backend(Protocol):
    def load(self, model: ModelEntry, path: str) -> LoadedModel:
        """Load weights and tokenizer once per model."""
        ...

    def apply(self, setting: RopeSetting) -> LanguageModel:
        """Put a RoPE setting in place (no weight reload) and return the model to query."""
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

    def create(self, config: BackendConfig) -> Backend:
        module_name, _, cls_name = self.module.partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        backend: Backend = cls(config)
        return backend


BACKENDS: Registry[BackendInfo] = Registry("backend")
BACKENDS.add(
    "hf", BackendInfo("hf", HFConfig, "longctx_eval.backends.hf:HFBackend", "transformers, in-process")
)
