"""Prometheus metrics: one custom collector that reads the pipeline's own counters at scrape
time, in its own registry, served over HTTP (loopback by default).

Nothing on the packet path touches Prometheus objects: the pipeline keeps plain ints and
Counters, and `collect()` copies them when Prometheus asks (a C-level dict copy under the
GIL, so the capture thread never waits). Labels are bounded: sensor, site, and the policy's
own vocabularies (category, provision, action, severity, reason, extractor, table,
structure); never addresses, names or SNI, which belong in DuckDB.

`collector.py` assembles the families that `traffic.py`, `policy.py` and `resources.py`
build, one function per concern; `server.py` serves them, and `workers.py` sums the
snapshots of `sensor run`'s worker processes.
"""

from sensor.metrics.collector import SensorCollector, ShipCollector, collector_for
from sensor.metrics.server import parse_listen, serve

__all__ = ["SensorCollector", "ShipCollector", "collector_for", "parse_listen", "serve"]
