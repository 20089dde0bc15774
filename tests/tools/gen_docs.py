"""Regenerate the generated parts of docs/ from the code (the column lists).

Run `python -m tests.tools.gen_docs`; tests/unit/sinks/test_schema.py fails until you do.
"""

from __future__ import annotations

import re
from pathlib import Path

from sensor.sinks.schema import HEALTH_COLUMNS, markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKS = (
    (DOCS / "flows.md", "columns", markdown()),
    (DOCS / "storage.md", "health", markdown(HEALTH_COLUMNS)),
)
"""(file, marker, generated text): the text goes between `<!-- marker:begin -->` and
`<!-- marker:end -->`."""


def block(marker: str) -> str:
    """The pattern of a generated block, its text in group 2."""
    return rf"(<!-- {marker}:begin -->\n)(.*)(<!-- {marker}:end -->)"


def main() -> None:
    """Rewrite the blocks between the markers."""
    for doc, marker, text in BLOCKS:
        new = re.sub(
            block(marker),
            lambda m, t=text: m.group(1) + t + m.group(3),
            doc.read_text(),
            flags=re.S,
        )
        doc.write_text(new)
        print(doc)


if __name__ == "__main__":
    main()
