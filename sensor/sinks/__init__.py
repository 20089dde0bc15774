"""Sinks: where ended flows go (the flow store, metrics, alerts)."""

from sensor.sinks.base import Sink
from sensor.sinks.flowstore import FlowStore
from sensor.sinks.schema import FLOW_COLUMNS, Column

__all__ = ["FLOW_COLUMNS", "Column", "FlowStore", "Sink"]
