"""The report page as a reader sees it, in a real (headless) browser: one colour per method label
in every figure, the answer first, one model or task on demand, and a page that stays light at
10k cells because its pictures sit beside it."""

from __future__ import annotations

import json
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from longctx_eval.colors import Palette
from longctx_eval.reporting import load_results, write_report

from .test_report import NEEDS_BROWSER, body_tag, browser_dom, image_counts

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "results" / "examples" / "quickstart"


class _Figures(HTMLParser):
    """The <figure> elements of a DOM, in document order, with their attributes and their img src,
    and the ids of the headings."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, Any]] = []
        self.headings: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure":
            self.figures.append(a)
        elif tag == "img" and self.figures:
            self.figures[-1]["src"] = a.get("src")
        elif tag in ("h2", "details") and a.get("id"):
            self.headings.append(str(a["id"]))


def figures_of(dom: str) -> _Figures:
    parser = _Figures()
    parser.feed(dom)
    return parser


@pytest.fixture(scope="module")
def quickstart_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(QUICKSTART, d, dirs_exist_ok=True)
    shutil.rmtree(d / "plots", ignore_errors=True)
    write_report(d)
    return d


@NEEDS_BROWSER
def test_quickstart_page_gives_each_method_one_colour_and_leads_with_accuracy(
    quickstart_report: Path, tmp_path: Path
):
    d = quickstart_report
    dom = browser_dom(d / "report.html", tmp_path / "profile")
    counts = image_counts(body_tag(dom))
    assert counts["data-images-loaded"] == counts["data-images"] == len(list((d / "plots").glob("*.png")))
    page = figures_of(dom)
    assert page.figures[0]["data-kind"] == "accuracy"  # the answer comes first
    # ... after the leaderboard, and before the detail
    assert page.headings.index("headline") < page.headings.index("curves") < page.headings.index("details")

    # The colours the artists were drawn in, as each figure recorded them (read from matplotlib's
    # artists, not from the palette): one colour per label across every figure.
    seen: dict[str, set[str]] = {}
    for f in page.figures:
        for label, colour in json.loads(f.get("data-colors") or "{}").items():
            seen.setdefault(label, set()).add(colour)
    labels = {r.method_label for r in load_results(d).records}
    assert labels <= set(seen), labels - set(seen)
    assert all(len(colours) == 1 for colours in seen.values()), seen
    # Distinct labels, distinct colours; and the same as any other report of these labels gets.
    assert len({next(iter(c)) for c in seen.values()}) == len(seen)
    palette = Palette(labels)
    assert {label: next(iter(c)) for label, c in seen.items()} == {label: palette[label] for label in seen}
    kinds = {f["data-kind"] for f in page.figures if f.get("data-colors")}
    assert {"accuracy", "perplexity", "perplexity_relative", "rope", "usage", "loss_by_position"} <= kinds


@NEEDS_BROWSER
def test_the_page_shows_one_task_on_request(quickstart_report: Path, tmp_path: Path):
    url = (quickstart_report / "report.html").as_uri() + "?task=niah"
    dom = browser_dom(url, tmp_path / "profile")
    page = figures_of(dom)
    tasks = {f.get("data-task") for f in page.figures}
    assert {"niah", "passkey"} <= tasks
    for f in page.figures:
        hidden = "hidden" in f
        assert hidden == (f.get("data-task") not in (None, "niah")), f


def test_pictures_are_linked_beside_the_page_and_the_usage_numbers_are_in_the_json(
    quickstart_report: Path,
):
    d = quickstart_report
    page = (d / "report.html").read_text()
    linked = [p for p in (d / "plots").glob("*.png") if f'src="plots/{p.name}"' in page]
    embedded = page.count("data:image/png;base64,")
    assert len(linked) + embedded == len(list((d / "plots").glob("*.png")))
    assert all(p.stat().st_size > 12_000 for p in linked) and linked
    board = json.loads((d / "leaderboard.json").read_text())
    (usage,) = board["usage"]
    records = [r for r in load_results(d).records if r.task == "analysis" and r.status == "ok"]
    assert len(usage["points"]) == len(records)
    by_cell = {(p["method_label"], p["length"]): p for p in usage["points"]}
    for r in records:  # the numbers the entropy and OOD pictures draw, straight from the records
        point = by_cell[(r.method_label, r.length)]
        assert point["entropy_mean"] == pytest.approx(r.metrics.get("entropy_mean"))
        assert point["ood_share"] == pytest.approx(r.metrics.get("ood_share"))
    assert usage["positional_heads"] and usage["longest"] == max(r.length for r in records)


@NEEDS_BROWSER
@pytest.mark.slow
def test_a_10k_cell_page_stays_under_10_mb_and_opens_in_a_browser(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import report_scale

    d = tmp_path / "10k"
    cells = report_scale.build(d, report_scale.Templates(QUICKSTART), range(8), 25, 10)
    assert cells == 10_000
    write_report(d)
    size = (d / "report.html").stat().st_size
    assert size < 10_000_000, size
    tag = body_tag(browser_dom(d / "report.html", tmp_path / "profile"))  # 120 s at most
    counts = image_counts(tag)
    assert counts["data-images"] == len(list((d / "plots").glob("*.png"))) > 400
    assert counts["data-images-loaded"] == counts["data-images"]
