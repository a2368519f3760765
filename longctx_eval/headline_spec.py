"""What a report's headline answers: which tasks it averages, with which weights, by which rule.

Kept apart from the reporting package so that the sweep config (`headline:` in the YAML) can name
it without importing plotting. The report reads it from `report` options first, then from the
sweep's manifest, else uses the default: how far retrieval reaches.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HeadlineSpec(BaseModel):
    """The headline's definition (`headline:` in a sweep YAML, or `report` options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(
        "how far retrieval reaches",
        min_length=1,
        description="the question the headline answers, printed above it",
    )
    tasks: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="task (or task group) labels averaged into the headline; default: every accuracy "
        "task outside a group, and each group's average (RULER averages its tasks the same way)",
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="task label -> its weight in the headline's average (default 1 for each)",
    )
    rule: Literal["mean", "shortest"] = Field(
        "mean",
        description="mean: the weighted mean accuracy over `tasks` at each length, and the effective "
        "length of that mean (RULER's way); shortest: the shortest of the tasks' own effective lengths",
    )
    guards: tuple[str, ...] | None = Field(
        None,
        description="tasks shown beside the headline as quality guards, outside its rank; default: "
        "every perplexity task",
    )

    @model_validator(mode="after")
    def _weights_name_tasks(self) -> HeadlineSpec:
        bad = [k for k, w in self.weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be > 0 (not for {', '.join(bad)})")
        if self.tasks is not None:
            unknown = [k for k in self.weights if k not in self.tasks]
            if unknown:
                raise ValueError(f"weights name tasks outside `tasks`: {', '.join(unknown)}")
        return self


class AppliedHeadline(HeadlineSpec):
    """The headline as a report applied it (leaderboard.json's `headline`): defaults filled in
    from the results, so `tasks` may be empty where no retrieval task ran (a perplexity-only
    sweep), which a user's `headline:` may not be."""

    tasks: tuple[str, ...] | None = Field(
        None, description="the task labels the headline averaged (empty: no headline task ran)"
    )
