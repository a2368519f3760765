"""What RULER's tasks share: settings, scoring, depths, random draws, framing, the typed samples
and metrics they record, and one run over episodes.

No task is registered here. RULER (Hsieh et al. 2024, NVIDIA/RULER) builds its prompts as text and
keeps adding haystack until the prompt plus the generation budget would pass the length; here
every prompt is assembled as token ids, piece by piece, to exactly the cell's length (BOS, chat
template and answer prefix counted), so the pieces below are what each task fits.

Scoring follows RULER's `scripts/eval/synthetic/constants.py`: the output is stripped and control
characters turned into newlines, then
- `all` (string_match_all; every NIAH variant, variable tracking, common and frequent words): the
  share of the references found in the output, case-insensitively;
- `part` (string_match_part; QA): 1 when any reference is found.
A sample's score is that number (a multi-value needle half found scores 0.5, as in RULER); the
cell's accuracy is their mean, with a Wilson 95% interval on that mean.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from longctx_eval.haystack import Haystack, MultiNeedlePrompt
from longctx_eval.prompts import PromptFormat
from longctx_eval.records import AnsweredSample, Metrics
from longctx_eval.retrieval import RetrievalParams, accuracy_of, haystack_for
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, TaskParams, data_file_field

# RULER's samples per task (`scripts/config_tasks.sh`: 500; later papers run 100): the default under
# `protocol: ruler` where `samples` is not given.
RULER_SAMPLES = 500
# `protocol: ruler` (docs/protocols.md): RULER's own settings where they differ from this project's.
RulerProtocol = Literal["ruler"]


def protocol_field() -> Any:
    return Field(
        None,
        description="'ruler': RULER's protocol (the length counts the generation budget, RULER's layout "
        "seeding and vocabulary; docs/protocols.md); none: this project's settings (the prompt alone is "
        "the length)",
    )


def prompt_tokens(protocol: str | None, length: int, max_new_tokens: int) -> int:
    """Tokens of the prompt in a cell of `length`: the whole length, or under RULER's protocol the
    length less the generation budget (RULER's `max_seq_length` holds both)."""
    return length - max_new_tokens if protocol == "ruler" else length


def budget_tokens(protocol: str | None, max_new_tokens: int) -> int:
    """What the length must hold beyond the prompt's minimum (the budget, under RULER's protocol)."""
    return max_new_tokens if protocol == "ruler" else 0


# RULER's needle depths: 40 depth percents from 0 to 100, drawn without replacement per sample.
RULER_DEPTHS: tuple[int, ...] = tuple(int(x) for x in np.round(np.linspace(0, 100, num=40)))

Metric = Literal["all", "part"]
_CONTROL = re.compile(r"[\x00-\x1f]")


def postprocess(output: str) -> str:
    """RULER's clean-up of a prediction before matching."""
    return _CONTROL.sub("\n", output.strip()).strip()


def string_match_all(output: str, references: Sequence[str]) -> float:
    """Share of the references found in the output (case-insensitive substring)."""
    pred = postprocess(output).lower()
    return sum(1.0 for r in references if r.lower() in pred) / len(references)


def string_match_part(output: str, references: Sequence[str]) -> float:
    """1 when any reference is found in the output (case-insensitive substring)."""
    pred = postprocess(output).lower()
    return max(1.0 if r.lower() in pred else 0.0 for r in references)


SCORERS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "all": string_match_all,
    "part": string_match_part,
}


class RulerParams(TaskParams):
    """What every RULER task takes: its samples, whose protocol, its generation budget."""

    samples: PositiveInt = Field(20, description="samples per cell (RULER: 500, later 100)")
    protocol: RulerProtocol | None = protocol_field()
    # No default here: each task declares RULER's budget for it (NIAH 128, VT 30, CWE 120, ...).
    max_new_tokens: PositiveInt = Field(description="generation budget")
    check_retokenization: bool = Field(
        True, description="record whether each prompt re-tokenizes to the same ids (costs one encode)"
    )


class RulerHaystackParams(RulerParams, RetrievalParams):
    """Settings of the RULER tasks that hide text in a haystack (NIAH, variable tracking): RULER's
    common ones and the retrieval tasks' haystack settings, which `haystack_for` reads. Where both
    bases declare a field, RulerParams' declaration is the one used."""

    haystack: str = data_file_field(
        "noise",
        description="'noise' (RULER's filler paragraph, line after line), or a local .txt/.jsonl/.parquet "
        "file or hub dataset id whose documents make the filler (RULER's 'essay' haystack is Paul "
        "Graham's essays: give any prose file)",
    )


def ruler_haystack(params: RetrievalParams, env: TaskEnv) -> Callable[[], Haystack]:
    """RULER's noise haystack (one filler paragraph per line) or the harness's file/hub haystack."""
    if params.haystack == "noise":
        return Haystack.noise_lines
    return haystack_for(params, env)


def draw_depths(rng: np.random.Generator, n: int) -> list[float]:
    """Sorted depth fractions for n needles: RULER's 40-point grid without replacement (uniform
    random depths when there are more needles than grid points)."""
    if n <= len(RULER_DEPTHS):
        picks = rng.choice(len(RULER_DEPTHS), size=n, replace=False)
        return sorted(RULER_DEPTHS[int(i)] / 100 for i in picks)
    return sorted(float(x) for x in rng.random(n))


def random_letters(rng: np.random.Generator, k: int, upper: bool = False) -> str:
    """k random ASCII letters (RULER's variable names and coded words)."""
    letters = string.ascii_uppercase if upper else string.ascii_lowercase
    return "".join(letters[int(i)] for i in rng.integers(0, 26, size=k))


def distinct(draw: Callable[[], str], n: int, exclude: set[str] | None = None) -> list[str]:
    """n distinct draws not in `exclude` (a repeat is drawn again)."""
    seen = set(exclude or ())
    out: list[str] = []
    while len(out) < n:
        x = draw()
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def oxford_join(items: Sequence[str]) -> str:
    """'a', 'a, and b', 'a, b, and c' — RULER's list of queried keys."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", and " + items[-1]


def zeta(alpha: float) -> float:
    """Riemann zeta for alpha > 1 (RULER uses scipy's; Euler-Maclaurin after 1000 terms, ~1e-12)."""
    if alpha <= 1:
        raise ValueError(f"zeta needs alpha > 1, got {alpha}")
    n = 1000
    head = float(np.sum(np.arange(1, n, dtype=np.float64) ** -alpha))
    tail: float = n ** (1 - alpha) / (alpha - 1) + 0.5 * n**-alpha + alpha * n ** (-alpha - 1) / 12
    return head + tail


def frame(
    fmt: PromptFormat,
    instruction: str,
    question: str,
    answer_prefix: str,
    examples: Sequence[int] = (),
) -> tuple[list[int], list[int]]:
    """(head, tail) around a task's context: the template's prefix, any worked examples and the
    instruction; then a newline and the question, the template's tail and the answer prefix. The
    instruction is encoded as the prompt's first text only when no example precedes it."""
    first = fmt.encode(instruction) if examples else fmt.encode_first(instruction)
    head = fmt.prefix_ids + list(examples) + first
    tail = fmt.encode("\n" + question) + fmt.tail_ids + fmt.answer_ids(answer_prefix)
    return head, tail


def padding(fmt: PromptFormat, n: int) -> list[int]:
    """n newline tokens: what closes the last few tokens a list of whole items cannot fill."""
    return fmt.encode("\n")[-1:] * n


class RulerSample(AnsweredSample):
    """One RULER sample as recorded; each task's subclass adds where its needles or documents sit."""

    n_prompt_tokens: int  # the cell's length (under protocol ruler: less the generation budget)
    targets: list[str]  # the references RULER's rule matches (`target` joins them for tables)
    score: float
    retokenizes_exactly: bool | None = None  # None: not checked (check_retokenization: false)


class RulerMetrics(Metrics):
    """A RULER cell's accuracy (mean score, Wilson interval) and its empty outputs."""

    # Outputs empty after RULER's clean-up (RULER's "nulls"). None only where no sample was scored
    # (a skipped or failed cell's record, read back).
    n_empty: int | None = None


class SampleRow(BaseModel):
    # Rows inside a sample: as tolerant as the sample itself (fields a newer version adds are kept).
    model_config = ConfigDict(extra="allow")


class NeedlePosition(SampleRow):
    """Where one hidden line sits in the prompt (a row of `needle_records`)."""

    token_offset: int  # its first token
    tokens: int
    depth: float  # real depth: token_offset / the prompt's length
    depth_requested: float  # the depth drawn (RULER's grid), as a fraction of the filler


class RulerHaystackSample(RulerSample):
    """A sample whose lines hide in a haystack (NIAH, variable tracking): what the filler was."""

    haystack: str  # 'noise', 'needle', or the file / dataset the filler came from
    filler_tokens: int
    cut_mid_word: bool  # the filler was cut inside a word somewhere
    haystack_start_word: int  # where the last filler segment starts


@dataclass
class Episode:
    """One sample, built: its ids (exactly the prompt's length), references, and what it records
    besides (the fields its task's Sample class adds to RulerSample's)."""

    ids: list[int]
    targets: list[str]
    record: dict[str, Any] = field(default_factory=dict)


def run_ruler(
    ctx: CellContext,
    params: RulerParams,
    sample: type[RulerSample],
    draw: Callable[[np.random.Generator, int], Episode],
    metric: Metric = "all",
) -> CellOutcome:
    """A cell of a RULER task: `params.samples` episodes, each `draw(rng, n)` of n prompt tokens,
    drawn in turn from one generator seeded with the cell's seed (so every model and method gets the
    same samples); then generated, scored and aggregated by `run_episodes`."""
    rng = np.random.default_rng(ctx.seed)
    n = prompt_tokens(params.protocol, ctx.length, params.max_new_tokens)
    return run_episodes(ctx, params, sample, [draw(rng, n) for _ in range(params.samples)], metric)


def run_episodes(
    ctx: CellContext,
    params: RulerParams,
    sample: type[RulerSample],
    episodes: Sequence[Episode],
    metric: Metric,
) -> CellOutcome:
    """Generate greedily for every episode in one batch, score with RULER's rule, aggregate into
    `RulerMetrics`; each sample an instance of `sample`, the task's own class."""
    want = prompt_tokens(params.protocol, ctx.length, params.max_new_tokens)
    for e in episodes:
        if len(e.ids) != want:  # the contract every builder keeps; a slip must not pass silently
            raise AssertionError(f"episode of {len(e.ids)} tokens where {want} were asked for")
    outputs = ctx.lm.generate([e.ids for e in episodes], params.max_new_tokens)
    score = SCORERS[metric]
    samples = [
        sample(
            index=i,
            n_prompt_tokens=len(e.ids),
            targets=e.targets,
            target=", ".join(e.targets),
            output=out.text,
            score=score(out.text, e.targets),
            retokenizes_exactly=(
                ctx.prompts.retokenizes_exactly(e.ids) if params.check_retokenization else None
            ),
            **e.record,
        )
        for i, (e, out) in enumerate(zip(episodes, outputs, strict=True))
    ]
    metrics = RulerMetrics(
        **accuracy_of([s.score for s in samples]),
        n_empty=sum(1 for s in samples if not postprocess(s.output)),  # RULER's "nulls"
    )
    return CellOutcome(metrics=metrics, samples=samples)


def needle_records(
    offsets: Sequence[int],
    tokens: Sequence[int],
    length: int,
    requested: Sequence[float],
    **lists: Sequence[Any],
) -> list[dict[str, Any]]:
    """A `NeedlePosition` row per needle (token offset and count, real and requested depth), plus
    the given fields (the task's subclass of NeedlePosition declares them)."""
    out = []
    for k, (o, n, d) in enumerate(zip(offsets, tokens, requested, strict=True)):
        row: dict[str, Any] = {"token_offset": o, "tokens": n, "depth": o / length, "depth_requested": d}
        row.update({name: values[k] for name, values in lists.items()})
        out.append(row)
    return out


def layout_record(prompt: MultiNeedlePrompt, haystack: Haystack) -> dict[str, Any]:
    """The `RulerHaystackSample` fields of a prompt built by `fit_needles` from `haystack`."""
    return {
        "haystack": haystack.name,
        "filler_tokens": prompt.filler_tokens,
        "cut_mid_word": prompt.cut_mid_word,
        "haystack_start_word": prompt.haystack_start_word,
    }


def longest_in_tokens(fmt: PromptFormat, candidates: Sequence[str]) -> str:
    """The candidate with the most tokens after a space (to size a prompt for the worst draw)."""
    return max(candidates, key=lambda c: (len(fmt.encode(" " + c)), c))


def worst_draws(draw: Callable[[np.random.Generator], str], n: int = 64) -> list[str]:
    """n seeded draws, to size a prompt for random keys whose token count varies."""
    rng = np.random.default_rng(0)
    return [draw(rng) for _ in range(n)]
