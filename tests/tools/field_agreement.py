"""Print per-field agreement of the app-layer columns with tshark over the corpus.

Run `python -m tests.tools.field_agreement` (needs tshark and ../shared/corpus).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import duckdb

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline
from sensor.sinks.flowstore import FlowStore, StoreConfig
from tests.conftest import corpus_pcaps
from tests.corpus.test_tshark_fields import EXCEPTIONS, FIELDS, agreement
from tests.corpus.test_tshark_flows import EXCEPTIONS as FLOW_EXCEPTIONS


def main() -> None:
    """Replay every capture, compare every field, print the totals."""
    total: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(corpus_pcaps()):
            catalog = Path(tmp) / f"c{i}.duckdb"
            store = FlowStore(StoreConfig(catalog=catalog, sensor="agreement"))
            Pipeline(SensorConfig(), [store]).run([open_capture(path)])
            db = duckdb.connect(str(catalog), read_only=True)
            for field in FIELDS:
                n, bad = agreement(path, db, field)
                total[field] += n
                agree[field] += n - len(bad)
                if bad:
                    why = EXCEPTIONS.get((path.name, field)) or FLOW_EXCEPTIONS.get(
                        path.name, "NOT EXPLAINED"
                    )
                    print(f"{path.name} {field}: {n - len(bad)}/{n} ({why})")
    for field in FIELDS:
        n = total[field]
        print(f"{field:20} {agree[field]:5}/{n:<5} {100 * agree[field] / max(n, 1):6.2f}%")


if __name__ == "__main__":
    main()
