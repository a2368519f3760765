"""One table model behind every rendering: the quickstart's leaderboard rendered as Markdown,
LaTeX, HTML and in the terminal shows the same columns and the same cells."""

from __future__ import annotations

import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "results" / "examples" / "quickstart"


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory):
    from longctx_eval.reporting import build_summary, load_results
    from longctx_eval.reporting.effective import ReportOptions

    copy = tmp_path_factory.mktemp("qs") / "quickstart"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("plots"))
    return build_summary(load_results([copy]), ReportOptions(), "quickstart")


def _markdown_table(text: str, heading: str) -> list[list[str]]:
    lines = text.split(heading, 1)[1].strip().splitlines()
    rows = []
    for ln in lines:  # the table: its consecutive "|" lines
        if ln.startswith("|"):
            rows.append(ln)
        elif rows:
            break
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]
    return [cells[0], *cells[2:]]  # drop the alignment row


def _latex_table(text: str) -> list[list[str]]:
    body = text.split(r"\toprule", 1)[1].split(r"\bottomrule", 1)[0]
    lines = [ln for ln in body.splitlines() if ln.strip() and ln.strip() != r"\midrule"]
    return [
        [c.strip().replace("--", "–").replace(r"\_", "_") for c in ln.removesuffix(" \\\\").split(" & ")]
        for ln in lines
    ]


class _FirstTable(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.depth, self.done, self.cell = 0, False, None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif tag == "tr" and self.depth:
            self.rows.append([])
        elif tag in ("td", "th") and self.depth:
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth, self.done = 0, True
        elif tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def test_every_rendering_of_the_leaderboard_has_the_same_columns_and_cells(summary):
    from rich.console import Console

    from longctx_eval.reporting.console import print_summary
    from longctx_eval.reporting.html import render
    from longctx_eval.reporting.table_model import leaderboard_table
    from longctx_eval.reporting.tables import latex, markdown

    model = leaderboard_table(summary)
    expected = [model.names, *model.texts()]
    assert "retention at L" in model.names and "headline" in model.names

    md = _markdown_table(markdown(summary), "## Effective context length")
    tex = _latex_table(latex(summary))
    page = _FirstTable()
    page.feed(render(summary, load_for_page(), [], picture_dir=None))
    assert md == expected
    assert tex == expected
    assert page.rows == expected

    out = io.StringIO()
    print_summary(summary, Console(file=out, width=1000, color_system=None))
    first = out.getvalue().split("\n\n")[0] if "\n\n" in out.getvalue() else out.getvalue()
    header = next(ln for ln in first.splitlines() if "model" in ln and "method" in ln)
    assert [c.strip() for c in re.split(r"[┃│]", header)[1:-1]] == model.names
    for texts in model.texts():  # each row's cells, in order, on one line of the terminal table
        assert any([c.strip() for c in re.split(r"[┃│]", ln)[1:-1]] == texts for ln in first.splitlines()), (
            texts
        )


def load_for_page():
    from longctx_eval.reporting import load_results

    return load_results([EXAMPLE])
