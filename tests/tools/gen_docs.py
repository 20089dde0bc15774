"""Regenerate the generated parts of docs/ from the code (the column lists).

Run `python -m tests.tools.gen_docs`; tests/unit/sinks/test_schema.py fails until you do.
"""

from __future__ import annotations

import re
from pathlib import Path

from sensor.sinks.schema import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "flows.md"


def main() -> None:
    """Rewrite the block between the column markers."""
    text = DOC.read_text()
    new = re.sub(
        r"(<!-- columns:begin -->\n).*(<!-- columns:end -->)",
        lambda m: m.group(1) + markdown() + m.group(2),
        text,
        flags=re.S,
    )
    DOC.write_text(new)
    print(DOC)


if __name__ == "__main__":
    main()
