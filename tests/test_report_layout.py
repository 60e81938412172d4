"""The report's layout with long names: the HTML page on a 375 px phone in headless Chromium (no
wider than the screen, chart text readable), and the PDF (names cut to their cells, nothing printed
within 10 mm of the paper's edge)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from store_helpers import meeting, series_of
from tracker.reports.figures import Report, build_report
from tracker.reports.pdf import TABLE_FONT, fit
from tracker.reports.render import render
from tracker.store.storage import MeetingStore

LONG = "Maximilian Alexander von Hohenzollern-Sigmaringen der Dritte!"  # 61 characters
CHROMIUM = "/usr/bin/chromium"
PHONE_PX = 375
MM_PER_INCH = 25.4


@pytest.fixture(scope="module")
def long_names(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The third meeting of a series, with a 61-character name and a 42-character one."""
    folder = tmp_path_factory.mktemp("data")
    with MeetingStore.in_folder(folder) as store:
        for rec in series_of(2):
            store.save(rec)
        store.save(meeting(seed=7, people=6, started_at="2026-04-20T09:00:00+00:00",
                           names={0: LONG, 1: "Blair", 2: "Dana", 4: "Wolfgang Amadeus Mozart-Beethoven-Schubert"}))
        record = store.load(None)
        return build_report(record, series=store.series("weekly sync"))


def test_fit_cuts_a_name_to_the_width_and_keeps_a_short_one() -> None:
    assert fit("Dana", 100) == "Dana"
    cut = fit(LONG, 100)
    assert cut.endswith("…") and LONG.startswith(cut[:-1]) and len(cut) < len(LONG)
    assert fit(LONG + "x", 100) == cut  # the cut depends on the width, not on the length
    assert len(fit(LONG, 60, TABLE_FONT)) < len(cut) < len(fit(LONG, 200))


@pytest.mark.browser
def test_the_html_report_reads_on_a_phone(long_names: Report, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}; expected the Debian package chromium (see tests/test_dashboard_browser.py)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_bytes(render(long_names, "html"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": PHONE_PX, "height": 740}, is_mobile=True, device_scale_factor=2)
            page.goto(page_file.as_uri())
            width = page.evaluate("document.documentElement.scrollWidth")
            boxes = page.evaluate("Array.from(document.querySelectorAll('table, figure'))"
                                  ".map(e => (e.closest('.wide') || e).getBoundingClientRect().right)")
            # each chart text's size on screen: its font size in the SVG's units times the SVG's scale
            sizes = page.evaluate("""Array.from(document.querySelectorAll('figure svg text')).map(t => {
                const svg = t.ownerSVGElement;
                return parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width
                       / svg.viewBox.baseVal.width; })""")
            people = page.locator("#people").inner_text()
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        finally:
            browser.close()
    assert width <= PHONE_PX, f"the page is {width} px wide on a {PHONE_PX} px screen"
    assert len(boxes) >= 8 and max(boxes) <= PHONE_PX  # tables and charts scroll inside their own box
    assert len(sizes) > 50 and min(sizes) >= 9.5, f"smallest chart text {min(sizes):.1f} CSS px"
    assert LONG in people  # the page keeps the whole name, wrapped


def _ink_margins_mm(png: Path, dpi: int) -> tuple[float, float, float, float]:
    from PIL import Image

    image = Image.open(png).convert("L")
    box = image.point(lambda v: 255 if v < 235 else 0).getbbox()
    assert box is not None, f"{png.name} is blank"
    left, top, right, bottom = box
    mm = MM_PER_INCH / dpi
    return left * mm, top * mm, (image.width - right) * mm, (image.height - bottom) * mm


def test_the_pdf_cuts_long_names_and_keeps_a_printable_margin(long_names: Report, tmp_path: Path) -> None:
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian package poppler-utils); run `make test`")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(long_names, "pdf"))
    dpi = 50
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 3
    for png in pages:
        margins = _ink_margins_mm(png, dpi)
        assert min(margins) >= 10, f"{png.name}: ink {margins} mm from the left, top, right and bottom edges"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert LONG not in text  # never drawn whole into a cell or over the next one
    assert "Maximilian Alexander von" in text and "…" in text
    assert "Dana" in text and "Blair" in text
