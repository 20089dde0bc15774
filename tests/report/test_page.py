"""The HTML report as a person sees it: rendered by headless Chromium, no label cut, no
non-zero figure reading "0", times local, no address in the leader view; printed on Letter
and A4 without cut content; strings from the wire escaped."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sensor.classify import SignaturesConfig
from sensor.cli import main
from sensor.report import build, names_for, render_html, render_text
from sensor.report.data import Figures, Period, ProvisionRow, Report
from sensor.report.words import count, size, when
from tests.tools import browser

TZ = ZoneInfo("America/Chicago")
ADDRESS = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b|\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b", re.I)
needs_chromium = pytest.mark.skipif(browser.chromium() is None, reason="needs chromium")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")


def _page(db: Path, out: Path, *args: str) -> Path:
    page = out / "report.html"
    assert main(["report", "--db", str(db), "--html", str(page), *args]) == 0
    return page


@needs_chromium
@pytest.mark.parametrize("store", ["demo_store", "fleet_store"])
def test_rendered_page_cuts_no_label_and_shows_every_figure(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db: Path = request.getfixturevalue(store)
    args = ["--since", "2025-12-01", "--until", "2025-12-10"] if store == "fleet_store" else []
    page = _page(db, tmp_path, *args)
    source = page.read_text()
    # self-contained: no script, nothing fetched at view time
    assert "<script" not in source and not re.search(r"(src|href)=.https?:|url\(.?https?:", source)
    r = build(db, *(args[1::2] if args else ["7d", None]), TZ.key, None, False)
    assert r is not None and r.provisions
    names = names_for(SignaturesConfig())
    m = browser.measure(page)
    assert m["cut"] == [] and m["overlap"] == [] and not m["overflow"]
    charts = " ".join(" ".join(t.split()) for t in m["svgText"])
    for p in r.provisions:
        if p.violations:  # the full title, wrapped but never shortened
            assert f"{p.provision} {names.provision(p.provision)}" in charts
    table = next(t for t in m["tables"] if t[0][:2] == ["Policy item", "Rule breaks"])
    for p, row in zip(r.provisions, table[1:], strict=True):
        assert row[1:6] == [
            count(p.violations), count(p.hosts), size(p.bytes), count(p.approved),
            count(p.personal_use),
        ]  # fmt: skip
        assert p.bytes == 0 or not re.match(r"0(\.0*)? ", row[3])
    if store == "demo_store":  # the 50,851-byte radio stream of the issue
        assert "50.9 kB" in m["text"]
    # local time: the demo's 16:00 UTC is 10:00 in Missouri
    assert f"({TZ.key})" in m["text"] and "CST" in m["text"]
    for _, _, _, t in r.rogue:
        assert when(t, TZ) in m["text"]
    assert re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d (Nov|Dec)\b", charts)
    assert not ADDRESS.search(m["text"]) and not ADDRESS.search(source)


def test_detail_view_lists_hosts_and_evidence(demo_store: Path, tmp_path: Path) -> None:
    page = _page(demo_store, tmp_path, "--detail")
    html = page.read_text()
    assert "10.20.1.11" in html and "tls.sni=chatgpt.com" in html


@needs_chromium
@needs_poppler
@pytest.mark.parametrize(("paper", "points"), [("letter", (612, 792)), ("A4", (595, 842))])
def test_printed_on_letter_and_a4_without_cut_content(
    paper: str, points: tuple[int, int], fleet_store: Path, tmp_path: Path
) -> None:
    from PIL import Image

    page = _page(fleet_store, tmp_path, "--since", "2025-12-01", "--until", "2025-12-10")
    pdf = tmp_path / f"{paper}.pdf"
    browser.print_pdf(page, pdf, paper)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    w, h = (float(x) for x in re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())  # type: ignore[union-attr]
    assert (round(w), round(h)) == points
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True).stdout  # fmt: skip
    flat = " ".join(text.split())
    headings = ("Rule breaks by policy item", "Per site", "Top services per item",
                "Rogue access points", "Connections by outcome", "What the sensor saw")  # fmt: skip
    assert all(h in flat for h in headings)
    r = build(fleet_store, "2025-12-01", "2025-12-10", TZ.key, None, False)
    assert r is not None
    for p in r.provisions:
        assert size(p.bytes) in flat
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert pages
    for png in pages:  # every page keeps white margins: nothing runs off the paper
        img = Image.open(png).convert("L")
        margin = max(2, img.width // 30)
        for x in [*range(margin), *range(img.width - margin, img.width)]:
            assert min(img.getpixel((x, y)) for y in range(img.height)) > 200, (png, x)


def test_strings_from_the_wire_are_escaped() -> None:
    evil = "<script>alert(1)</script>\x1b[31m\u202e"
    t0 = dt.datetime(2025, 11, 25, 16, tzinfo=dt.UTC)
    f = Figures(1, 1, 1, 10, 1)
    r = Report(
        period=Period(t0, t0 + dt.timedelta(days=1), TZ),
        now=f, before=f,
        provisions=(ProvisionRow("2503-9b", 1, 1, 10, 0, 0, 0),),
        sites=((evil, "2503-9b", 1),),
        days=((dt.date(2025, 11, 25), evil, 1),),
        weekly=False,
        services=(("2503-9b", evil, 1, 10),),
        rogue=(("radio", evil, 1, t0),),
        seen=(1, 10, 1, 1),
        outcomes=((evil, 1),),
        hosts=(("2503-9b", evil, "10.0.0.1", 1, 10, evil),),
    )  # fmt: skip
    names = names_for(SignaturesConfig())
    html = render_html(r, names, detail=True)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for page in (html, render_text(r, names, detail=True)):
        assert "\x1b" not in page and "\u202e" not in page
        assert "\\x1b[31m\\u202e" in page
    assert "10:00 CST" in render_text(r, names)


def test_cli_errors_are_one_line(demo_store: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "--db", str(demo_store), "--since", "soon"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and "--since" in res.stderr
    site = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "--db", str(demo_store), "--site", "nowhere"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert site.returncode == 2 and "'nowhere': not in the store (sites: default)" in site.stderr
    one = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "--db", str(demo_store), "--site", "default"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert one.returncode == 0 and "site default;" in one.stdout


def test_an_empty_store_and_a_reversed_period(tmp_path: Path, demo_store: Path) -> None:
    from sensor.sinks.catalog import ensure_catalog

    empty = tmp_path / "empty.duckdb"
    ensure_catalog(empty, tmp_path / "empty.data")
    res = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "--db", str(empty)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0 and res.stdout == "no flow records yet\n"
    bad = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "--db", str(demo_store),
         "--since", "2025-12-10", "--until", "2025-12-01"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not before" in bad.stderr


def test_times_follow_the_configured_time_zone(demo_store: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "berlin.yaml"
    cfg.write_text("policy: {schedule: {timezone: Europe/Berlin}}\n")
    res = subprocess.run(
        [sys.executable, "-m", "sensor", "report", "-c", str(cfg), "--db", str(demo_store),
         "--since", "1h"],
        capture_output=True, text=True,
    )  # fmt: skip
    # the demo ends just after 16:00 UTC: 17:00 in Berlin, 10:00 in Missouri
    assert res.returncode == 0 and "(Europe/Berlin)" in res.stdout
    assert "17:00 CET" in res.stdout and "CST" not in res.stdout
