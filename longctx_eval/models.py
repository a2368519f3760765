"""Finding a model: a local directory or a hub id, its config and tokenizer, with one-line errors.

The one lookup every entry point uses (sweeps, `rope`, `longrope-search`, `analyze`), so a bad path
reads the same everywhere and a relative path is looked up the same way (working directory first,
then beside the sweep file).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


class ModelNotFound(ValueError):
    """The model cannot be found or read; the message is one line."""


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # a local directory (resolved) or a hub id
    local: bool
    config: Any  # the model's transformers config
    tokenizer: Any | None  # None when not asked for


def resolve_model(
    path: str,
    revision: str | None = None,
    trust_remote_code: bool = False,
    resolve_path: Callable[[str], Path] | None = None,
    tokenizer: bool = True,
) -> ResolvedModel:
    """The model's config (and tokenizer) from a local directory or, failing that, the hub."""
    from transformers import AutoConfig, AutoTokenizer

    local = (resolve_path or _expand)(path)
    if local.exists() and not local.is_dir():
        raise ModelNotFound(f"{path} is a file; give the model's directory")
    if not local.exists() and (path.startswith((".", "/", "~")) or not _HUB_ID.match(path)):
        raise ModelNotFound(f"no such model directory: {path}")
    where = str(local) if local.is_dir() else path
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    if not local.is_dir() and not _offline():
        unreachable = hub_unreachable()
        if unreachable is not None:
            # Fail fast: transformers would retry for half a minute before the same conclusion.
            kwargs["local_files_only"] = True
            try:
                config = AutoConfig.from_pretrained(path, **kwargs)
                tok = AutoTokenizer.from_pretrained(path, **kwargs) if tokenizer else None
                return ResolvedModel(path, False, config, tok)
            except OSError:  # what transformers raises for a file missing from the cache
                raise ModelNotFound(
                    f"{path} is not a local directory, not in the local hub cache, and the hub is "
                    f"unreachable ({unreachable}); check the network, set HF_HUB_OFFLINE=1 to use only "
                    "the local cache, or HF_TOKEN for a gated model"
                ) from None
            except Exception as exc:  # in the cache, but broken: say what, not "not in the cache"
                raise ModelNotFound(
                    f"{path}: found in the local hub cache (the hub is unreachable: {unreachable}) but "
                    f"cannot load it: {first_line(exc)}"
                ) from None
    try:
        config = AutoConfig.from_pretrained(where, **kwargs)
        tok = AutoTokenizer.from_pretrained(where, **kwargs) if tokenizer else None
    except Exception as exc:
        what = "its config or tokenizer" if tokenizer else "its config"
        if local.is_dir():
            raise ModelNotFound(f"{path}: cannot load {what}: {first_line(exc)}") from None
        raise ModelNotFound(
            f"{path} is not a local directory and could not be loaded from the hub: {first_line(exc)}"
        ) from None
    return ResolvedModel(where, local.is_dir(), config, tok)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (one short line), or None when it answers."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return None  # it answered, if only with an error status
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{constants.ENDPOINT}: {reason}"
    return None


def _expand(value: str) -> Path:
    return Path(value).expanduser()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


DTYPES = ("float32", "bfloat16", "float16", "auto")


def load_causal_lm(
    path: str,
    dtype: str = "float32",
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
) -> tuple[Any, Any]:
    """(model in eval mode on the CPU, tokenizer) through transformers' Auto classes: the one place
    weights are read, for the HF backend and the frequency-usage analysis alike."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    # transformers' "Loading weights" bar would be drawn through the harness's own progress display.
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    load: dict[str, Any] = {**kwargs, "dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if attn_implementation:
        load["attn_implementation"] = attn_implementation
    model: Any = AutoModelForCausalLM.from_pretrained(path, **load)
    return model.eval(), tokenizer
