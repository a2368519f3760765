"""OpenMP's wait policy on a shared CPU: spinning (the default) against PASSIVE, alone and two at once.

Each process loads the shipped reference model with 2 torch threads and decodes greedily (a
256-token prompt, 128 new tokens, batch 1: many short parallel regions, where idle threads wait
for the next one). Four ways, interleaved round after round:

- alone, default wait policy;      - alone, OMP_WAIT_POLICY=PASSIVE;
- two at once, both default;       - two at once, both PASSIVE.

Both processes of a pair load first, then start decoding together (a line on their stdin); each
reports its own decoding time. Reported: min and median per way (for a pair, per process), the
ratios, and the load average. `threads.py` cites these figures for its default (PASSIVE when the
load average says other work is running).

    python benchmarks/thread_policy.py [--rounds 5] [--new-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_MODEL, load_average, write

CHILD = r"""
import os, sys, time
import torch
torch.set_num_threads(2)
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()
new = int(sys.argv[2])
ids = torch.randint(3, 4000, (1, 256), generator=torch.Generator().manual_seed(0))
kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=2)
with torch.inference_mode():
    model.generate(ids, **dict(kw, max_new_tokens=8, min_new_tokens=8))  # warm-up
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    model.generate(ids, **kw)
print(time.perf_counter() - t0, flush=True)
"""

WAYS = {
    "alone, default": (1, None),
    "alone, PASSIVE": (1, "PASSIVE"),
    "two at once, default": (2, None),
    "two at once, PASSIVE": (2, "PASSIVE"),
}


def run_way(processes: int, policy: str | None, new_tokens: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(OMP_NUM_THREADS="2", TRANSFORMERS_VERBOSITY="error")
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(REFERENCE_MODEL), str(new_tokens)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    for p in procs:  # start together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    out = []
    for p in procs:
        assert p.stdout is not None
        out.append(float(p.stdout.readline()))
        p.wait()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    loads: dict[str, list[float]] = {w: [] for w in WAYS}
    names = list(WAYS)
    for r in range(args.rounds):
        for way in names if r % 2 == 0 else names[::-1]:
            times[way] += run_way(*WAYS[way], args.new_tokens)
            loads[way].append(load_average())
    summary: dict[str, Any] = {}
    for way in names:
        t = times[way]
        summary[way] = {
            "min_s": min(t),
            "median_s": statistics.median(t),
            "seconds": t,
            "load_average": loads[way],
        }
        print(
            f"{way:<22} min {min(t):6.2f} s  median {statistics.median(t):6.2f} s  "
            f"(load average {min(loads[way]):.2f}–{max(loads[way]):.2f})"
        )

    def ratio(a: str, b: str, stat: str) -> float:
        return float(summary[a][stat] / summary[b][stat])

    ratios = {
        "two at once: default / PASSIVE (median)": ratio(
            "two at once, default", "two at once, PASSIVE", "median_s"
        ),
        "two at once: default / PASSIVE (min)": ratio(
            "two at once, default", "two at once, PASSIVE", "min_s"
        ),
        "alone: PASSIVE / default (median)": ratio("alone, PASSIVE", "alone, default", "median_s"),
        "alone: PASSIVE / default (min)": ratio("alone, PASSIVE", "alone, default", "min_s"),
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    write(
        "thread_policy",
        {
            "rounds": args.rounds,
            "new_tokens": args.new_tokens,
            "threads": 2,
            "ways": summary,
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
