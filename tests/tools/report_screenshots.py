"""Screenshots of the leader report for the README, from headless Chromium:

    python -m tests.tools.report_screenshots   # docs/report-demo.png, docs/report-fleet.png

The demo store is the bundled capture; the fleet store is two sites over three weeks built by
tests/tools/shifted_store.py. Both are rebuilt from scratch each run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from sensor.cli import main
from tests.tools import browser
from tests.tools.shifted_store import build_store

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _shoot(db: Path, png: Path, work: Path, height: int, *args: str) -> None:
    page = work / f"{png.stem}.html"
    assert main(["report", "--db", str(db), "--html", str(page), *args]) == 0
    browser.screenshot(page, png, width=1000, height=height)
    img = Image.open(png).convert("RGB")
    img.quantize(colors=64).save(png, optimize=True)  # a small PNG for the repository


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = work / "demo.duckdb"
        assert main(["replay", "-q", "--db", str(demo), "--sensor-name", "hq"]) == 0
        _shoot(demo, DOCS / "report-demo.png", work, 1700)
        fleet = build_store(work / "fleet")
        _shoot(fleet, DOCS / "report-fleet.png", work, 1900, "--since", "2w")
    print(DOCS / "report-demo.png", DOCS / "report-fleet.png")


if __name__ == "__main__":
    main_()
