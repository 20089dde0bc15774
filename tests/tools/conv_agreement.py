"""Print, per corpus capture and in total, how many conversations agree with tshark.

Run `python -m tests.tools.conv_agreement` (needs tshark and ../shared/corpus).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline
from sensor.sinks.flowstore import FlowStore, StoreConfig
from tests.conftest import corpus_pcaps
from tests.corpus.test_tshark_flows import compare


def main() -> None:
    """Replay each capture, compare, print the figures."""
    total = agree = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(corpus_pcaps()):
            catalog = Path(tmp) / f"c{i}.duckdb"
            store = FlowStore(StoreConfig(catalog=catalog, sensor="agreement"))
            Pipeline(SensorConfig(), [store]).run([open_capture(path)])
            n, bad = compare(path, duckdb.connect(str(catalog), read_only=True))
            total, agree = total + n, agree + n - len(bad)
            if bad:
                print(f"{path.name}: {n - len(bad)}/{n} agree")
    print(f"total: {agree}/{total} conversations agree ({100 * agree / max(total, 1):.2f}%)")


if __name__ == "__main__":
    main()
