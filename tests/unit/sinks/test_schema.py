"""The data dictionary: code, docs and the table analysts see must agree."""

from __future__ import annotations

import re

from sensor.sinks.schema import HEALTH_COLUMNS, PARTITION_COLUMNS, RECORD_COLUMNS
from tests.tools.gen_docs import BLOCKS, block


def test_docs_list_exactly_the_schema() -> None:
    for doc, marker, text in BLOCKS:
        found = re.search(block(marker), doc.read_text(), re.S)
        assert found is not None, (doc, marker)
        assert found.group(2) == text, "regenerate with: python -m tests.tools.gen_docs"


def test_flows_view_has_every_column_with_its_type(tmp_path, replay) -> None:
    from sensor.cli import demo_capture

    db, _ = replay([demo_capture()])
    got = {r[0]: r[1] for r in db.execute("DESCRIBE flows").fetchall()}
    want = {c.name: c.sql_type for c in RECORD_COLUMNS + PARTITION_COLUMNS}
    assert got == {
        k: {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(v, v) for k, v in want.items()
    }


def test_health_view_has_every_column_with_its_type(tmp_path, replay) -> None:
    from sensor.cli import demo_capture

    db, _ = replay([demo_capture()])
    got = {r[0]: r[1] for r in db.execute("DESCRIBE health").fetchall()}
    want = {c.name: c.sql_type for c in HEALTH_COLUMNS + PARTITION_COLUMNS}
    assert got == {
        k: {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(v, v) for k, v in want.items()
    }


def test_every_column_is_documented() -> None:
    for c in RECORD_COLUMNS + PARTITION_COLUMNS + HEALTH_COLUMNS:
        assert len(c.doc) > 10, c.name
