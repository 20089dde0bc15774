"""`sensor report`: what a district leader reads, as text, HTML or (printed) PDF.

`data` computes every figure by SQL over the catalog; `text` and `html` lay them out;
`charts` draws with matplotlib. The leader view counts hosts and never shows an address;
`detail=True` adds the analysts' list of hosts and evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import duckdb

from sensor.analyst import open_catalog
from sensor.classify import SignaturesConfig, load_rules
from sensor.errors import StorageError, UsageError
from sensor.report.data import Report, compute, resolve_period
from sensor.report.html import render_html
from sensor.report.text import render_text
from sensor.report.words import Names
from sensor.text import first_line

__all__ = ["Report", "build", "names_for", "render_html", "render_text", "report"]


def names_for(signatures: SignaturesConfig) -> Names:
    """Provision titles, and services and signatures by the message of their signature
    (`Public generative AI: ChatGPT (web or app)` -> `ChatGPT (web or app)`)."""
    from sensor.wireless import CHECKS

    provisions, sigs = load_rules(signatures)
    services: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for s in sigs.signatures:
        short = s.msg.split(": ", 1)[-1]
        services.setdefault(s.service, short)
        by_name.setdefault(s.name, short)
    for key, check in CHECKS.items():
        by_name.setdefault(key, check.msg.split(": ", 1)[-1])
    return Names({p.id: p.title for p in provisions.values()}, services, by_name)


def _check_site(con: duckdb.DuckDBPyConnection, site: str) -> None:
    """A misspelt --site is an error, not an empty report."""
    sites = [r[0] for r in con.execute(
        "SELECT DISTINCT site FROM flows WHERE sensor <> '_schema' ORDER BY 1"
    ).fetchall()]  # fmt: skip
    if site not in sites:
        raise UsageError(f"--site {site!r}: not in the store (sites: {', '.join(sites)})")


def build(
    catalog: Path, since: str, until: str | None, tz: str, site: str | None, detail: bool
) -> Report | None:
    """Every figure of the report for the period; None if the store has no flow record."""
    con = open_catalog(catalog)
    try:
        if site is not None:
            _check_site(con, site)
        period = resolve_period(con, since, until, ZoneInfo(tz), site)
        if period is None:
            return None
        return compute(con, period, detail)
    except duckdb.Error as e:
        raise StorageError(f"{catalog}: report query failed: {first_line(e)}") from None
    finally:
        con.close()


def report(
    catalog: Path,
    stream: TextIO,
    *,
    since: str = "7d",
    until: str | None = None,
    site: str | None = None,
    tz: str = "America/Chicago",
    detail: bool = False,
    html_out: Path | None = None,
    signatures: SignaturesConfig | None = None,
) -> int:
    """Write the text report to `stream` and, with `html_out`, the page; exit status."""
    r = build(catalog, since, until, tz, site, detail)
    if r is None:
        stream.write("no flow records yet\n")
        return 0
    names = names_for(signatures or SignaturesConfig())
    stream.write(render_text(r, names, detail))
    if html_out is not None:
        page = render_html(r, names, detail)
        try:
            html_out.write_text(page, encoding="utf-8")
        except OSError as e:
            raise StorageError(f"{html_out}: cannot write: {e.strerror}") from None
        stream.write(f"HTML report: {html_out}\n")
    return 0
