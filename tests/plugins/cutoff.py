"""A task plugin for the length-search tests: accuracy that falls with length, as told.

Up to `cutoff` tokens every sample is right; beyond it a share `beyond` of them is (each batch's
samples drawn from its seed). It runs one NLL pass through the model so the cell is real work.
"""

import numpy as np
from pydantic import Field

from longctx_eval.retrieval import accuracy_metrics
from longctx_eval.task import CellOutcome, TaskParams, task


class CutoffParams(TaskParams):
    cutoff: int = Field(100, description="longest length where every sample is right")
    beyond: float = Field(0.0, description="share of right samples beyond the cutoff")
    samples: int = Field(40, description="samples per cell")


@task
class Cutoff:
    name = "cutoff"
    version = "1"
    Params = CutoffParams

    def __init__(self, params, env):
        self.params = params

    def min_length(self, prompts):
        return 1

    def run(self, ctx):
        p = self.params
        ctx.lm.token_nll([list(range(3, 3 + min(ctx.length, 64)))])
        rng = np.random.default_rng(ctx.seed)
        share = 1.0 if ctx.length <= p.cutoff else p.beyond
        samples = [{"index": i, "score": float(rng.random() < share)} for i in range(p.samples)]
        return CellOutcome(accuracy_metrics(samples), samples)
