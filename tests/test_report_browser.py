"""report.html and index.html in a real headless Chromium (Debian's ``chromium`` package),
driven by playwright's Python API: opened from ``file://``, every chart must render, the
console must stay clean, and with the network blocked nothing may change.

Marker ``browser``: skipped where Chromium or playwright is missing. A screenshot of each
page lands in the test's folder, and in ``$FARM_SCREENSHOTS`` when that is set.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from report_bundle import chromium, relabel_copy
from svg_reading import axis_labels, legend_entries, mark_symbols, significant_digits

from farm.html.history_index import write_history_index

pytestmark = pytest.mark.browser

#: The flags the brief asks for: headless, and nothing of Chromium's own reaching out.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    path = chromium()  # the conftest skips this module's tests where it is None
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(browser, report_sweep, tmp_path_factory):
    bundle = report_sweep["bundle"]
    relabel_copy(bundle, "20991231T000000Z")
    marks = [("20991231T000000Z", None, "change_point")]
    index = write_history_index(report_sweep["reports"], "tests", "report", marks=marks)
    return {
        "report": bundle / "report.html",
        "index": index.path,
        "tmp": tmp_path_factory.mktemp("shots"),
    }


def _open(browser, path: Path, shot: Path, block_network: bool = False) -> dict:
    """Load ``path`` from file://, wait for the charts, screenshot; return what was seen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    aborted: list[str] = []
    if block_network:

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                aborted.append(r.request.url)
                r.abort()

        context.route("**/*", route)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    expected = int(page.get_attribute('meta[name="farm-charts"]', "content"))
    if expected:
        page.wait_for_selector("svg[data-chart]", state="attached")
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('svg[data-chart]')].map(s => {
            const r = s.getBoundingClientRect();
            const marks = s.querySelectorAll('path, rect, line, text').length;
            return {w: r.width, h: r.height, marks: marks};
        })"""
    )
    images = page.evaluate(
        "() => [...document.images].map(i => "
        "({ok: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 22)}))"
    )
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("FARM_SCREENSHOTS"):
        out = Path(os.environ["FARM_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / shot.name)
    context.close()
    return {
        "expected": expected,
        "drawn": drawn,
        "images": images,
        "console": console,
        "failed": failed,
        "aborted": aborted,
    }


def _all_drawn(seen: dict) -> None:
    assert seen["console"] == [], seen["console"]
    assert seen["expected"] > 0 and len(seen["drawn"]) == seen["expected"]
    for chart in seen["drawn"]:
        assert chart["w"] > 50 and chart["h"] > 20 and chart["marks"] > 10, chart
    assert all(i["ok"] and i["src"].startswith("data:image/png") for i in seen["images"])
    assert seen["failed"] == []


def test_the_report_renders_every_chart_in_chromium(browser, pages):
    seen = _open(browser, pages["report"], pages["tmp"] / "shots" / "report.png")
    _all_drawn(seen)
    assert len(seen["images"]) == 1  # the failing cell's difference image
    assert (pages["tmp"] / "shots" / "report.png").stat().st_size > 50_000


def test_the_report_renders_every_chart_with_the_network_blocked(browser, pages):
    seen = _open(browser, pages["report"], pages["tmp"] / "shots" / "report-offline.png", True)
    _all_drawn(seen)
    assert seen["aborted"] == []  # it never even tried


def test_the_network_block_is_real(browser, tmp_path):
    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><head><meta name="farm-charts" content="0"></head><body>'
        '<img src="https://cdn.example.org/chart.png"></body></html>'
    )
    seen = _open(browser, control, tmp_path / "control.png", block_network=True)
    assert seen["aborted"] == ["https://cdn.example.org/chart.png"]
    [image] = seen["images"]
    assert not image["ok"] and image["src"].startswith("https://cdn.")


def test_the_history_index_renders_and_links_the_reports(browser, pages):
    seen = _open(browser, pages["index"], pages["tmp"] / "shots" / "index.png", True)
    _all_drawn(seen)
    html = pages["index"].read_text()
    links = re.findall(r'href="([^"#]+/report\.html)"', html)
    assert links and all((pages["index"].parent / link).is_file() for link in links)


#: What the page's layout script reads: the nav against the viewport, each figure's SVG as
#: Chromium holds it, and the labels of each axis that overlap a neighbour.
LAYOUT = """() => {
    const nav = document.querySelector('nav');
    const links = [...nav.querySelectorAll('a')].map(a => {
        const r = a.getBoundingClientRect();
        return {text: a.textContent, left: r.left, right: r.right};
    });
    const figures = {};
    for (const s of document.querySelectorAll('svg[data-figure]')) {
        figures[s.dataset.figure] = s.outerHTML;
    }
    const overlaps = [];
    for (const axis of document.querySelectorAll('g.role-axis-label')) {
        const boxes = [...axis.querySelectorAll('text')]
            .filter(t => getComputedStyle(t).opacity !== '0' && t.getAttribute('opacity') !== '0')
            .map(t => [t.textContent, t.getBoundingClientRect()]);
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const [a, p] = boxes[i], [b, q] = boxes[j];
            if (p.left < q.right - 0.5 && q.left < p.right - 0.5 &&
                p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) overlaps.push([a, b]);
        }
    }
    return {width: window.innerWidth, scroll: document.documentElement.scrollWidth,
            navScroll: nav.scrollWidth, navWidth: nav.clientWidth, links, figures, overlaps};
}"""


@pytest.mark.parametrize("width", [1400, 900])
def test_the_report_reads_well_in_chromium(browser, pages, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(pages["report"].resolve().as_uri(), wait_until="load")
    seen = page.evaluate(LAYOUT)
    page.screenshot(path=str(pages["tmp"] / f"report-{width}.png"), full_page=True)
    context.close()
    # the section nav wraps: every link, the last ("Environment and provenance") too, is inside
    assert seen["links"][-1]["text"] == "Environment and provenance"
    assert all(a["left"] >= 0 and a["right"] <= seen["width"] for a in seen["links"]), seen
    assert seen["navScroll"] <= seen["navWidth"]
    # tick labels: round numbers (no 8.18204677), none on top of another
    figures = seen["figures"]
    assert {"scaling", "dtypes", "phases", "memory", "correlation", "tiles"} <= set(figures)
    for name in ("scaling", "dtypes", "phases", "memory", "correlation"):
        axes = axis_labels(figures[name])
        assert axes, name
        for labels in axes:
            assert all(significant_digits(t) <= 4 for t in labels), (name, labels)
    assert seen["overlaps"] == []
    # the phases legend shows each mark's shape and colour; the memory legend its dashes
    phases = {(e.fill, e.shape) for e in legend_entries(figures["phases"])}
    assert phases == mark_symbols(figures["phases"])
    assert {shape for _, shape in phases} == {"circle", "triangle", "square"}
    dashes = [e for e in legend_entries(figures["memory"]) if e.legend == "memory"]
    assert [e.label for e in dashes] == ["host RSS", "device"]
    assert dashes[0].dash in (None, "1,0") and dashes[1].dash == "5,3"
