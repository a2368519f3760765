"""A task plugin for the runner tests, loaded through `tasks_path` like any user's plugin.

It scores one NLL pass through the model, and can fail at a length (a failing cell), sleep (so a
sweep can be interrupted mid-cell) or kill its own process (a worker dying), as told.
"""

import os
import signal
import time
from pathlib import Path

from pydantic import Field

from longctx_eval.task import CellOutcome, TaskParams, task


class ProbeParams(TaskParams):
    fail_at: int = Field(-1, description="raise at this length")
    sleep_s: float = Field(0.0, description="sleep this long in every cell")
    die_at: int = Field(-1, description="SIGKILL the process at this length ...")
    die_times: int = Field(1, description="... this many times in all ...")
    marker: str = Field("", description="... counting the deaths in this file")


@task
class Probe:
    name = "probe"
    version = "1"
    Params = ProbeParams

    def __init__(self, params, env):
        self.params = params

    def min_length(self, prompts):
        return 1

    def run(self, ctx):
        p = self.params
        if ctx.length == p.die_at and p.marker:
            deaths = int(Path(p.marker).read_text()) if Path(p.marker).exists() else 0
            if deaths < p.die_times:
                Path(p.marker).write_text(str(deaths + 1))
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(p.sleep_s)
        if ctx.length == p.fail_at:
            raise RuntimeError(f"boom at {ctx.length}")
        nll = ctx.lm.token_nll([list(range(3, 3 + ctx.length))])[0]
        return CellOutcome(
            {
                "accuracy": 1.0,
                "n": 1,
                "mean_nll": float(nll.mean()),
                "group_lengths": list(ctx.group_lengths),
            },
            [{"index": 0, "score": 1.0}],
        )
