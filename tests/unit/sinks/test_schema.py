"""The data dictionary: code, docs and the table analysts see must agree."""

from __future__ import annotations

import re

from sensor.sinks.schema import PARTITION_COLUMNS, RECORD_COLUMNS, markdown
from tests.conftest import REPO


def test_docs_list_exactly_the_schema() -> None:
    text = (REPO / "docs" / "flows.md").read_text()
    block = re.search(r"<!-- columns:begin -->\n(.*)<!-- columns:end -->", text, re.S)
    assert block is not None
    assert block.group(1) == markdown(), "regenerate with: python -m tests.tools.gen_docs"


def test_flows_view_has_every_column_with_its_type(tmp_path, replay) -> None:
    from sensor.cli import demo_capture

    db, _ = replay([demo_capture()])
    got = {r[0]: r[1] for r in db.execute("DESCRIBE flows").fetchall()}
    want = {c.name: c.sql_type for c in RECORD_COLUMNS + PARTITION_COLUMNS}
    assert got == {
        k: {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(v, v) for k, v in want.items()
    }


def test_every_column_is_documented() -> None:
    for c in RECORD_COLUMNS + PARTITION_COLUMNS:
        assert len(c.doc) > 10, c.name
