"""Headless Chromium for the report tests and screenshots: render a page, measure it, take a
screenshot, print it to PDF. Every run gets a fresh profile and no network features."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["chromium", "measure", "print_pdf", "screenshot"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

# Appended to a copy of the page: every chart label must lie inside its chart and clear of
# the others, no element
# may run past the window's right edge, and the tables and text are handed back as JSON.
_MEASURE = """<script>
const out = {overflow: document.documentElement.scrollWidth > window.innerWidth, cut: [],
  overlap: [], svgText: [], tables: []};
for (const svg of document.querySelectorAll('svg')) {
  const box = svg.getBoundingClientRect();
  const texts = [], seen = [];
  for (const t of svg.querySelectorAll('text')) {
    const r = t.getBoundingClientRect();
    for (const [o, q] of seen)
      if (Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1 &&
          Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1)
        out.overlap.push([o, t.textContent]);
    seen.push([t.textContent, r]);
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
        r.bottom > box.bottom + 1) out.cut.push(t.textContent);
    texts.push(t.textContent);
  }
  out.svgText.push(texts.join(' '));
}
for (const el of document.querySelectorAll('td,th,h1,h2,p,small,b,span')) {
  const r = el.getBoundingClientRect();
  if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) out.cut.push(el.textContent);
  if (r.right > window.innerWidth + 1) out.cut.push(el.textContent);
}
out.tables = [...document.querySelectorAll('table')].map(
  t => [...t.rows].map(r => [...r.cells].map(c => c.innerText)));
out.text = document.body.innerText;
const pre = document.createElement('pre');
pre.id = 'measure';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float = 60) -> str:
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        res = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if res.returncode != 0:
        raise RuntimeError(f"chromium failed: {res.stderr[-2000:]}")
    return res.stdout


def measure(page: Path, width: int = 1100) -> dict[str, Any]:
    """Render `page` at `width` CSS pixels and return what `_MEASURE` found."""
    probe = page.with_name(page.stem + ".measure.html")
    probe.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    dom = _run([f"--window-size={width},1200", "--dump-dom", probe.as_uri()])
    start = dom.index('<pre id="measure">') + len('<pre id="measure">')
    result: dict[str, Any] = json.loads(html.unescape(dom[start : dom.index("</pre>", start)]))
    return result


def screenshot(page: Path, png: Path, width: int = 1000, height: int = 1900) -> None:
    _run([f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()])


def print_pdf(page: Path, pdf: Path, paper: str) -> None:
    """Print `page` to `pdf` on `paper` (`letter` or `A4`), as a person would from the
    browser's print dialog: the page's print stylesheet applies."""
    probe = page.with_name(page.stem + f".{paper}.html")
    probe.write_text(page.read_text().replace("</style>", f"@page{{size:{paper}}}</style>", 1))
    _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", probe.as_uri()])
