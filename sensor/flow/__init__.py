"""Flows: canonical bidirectional keys, per-flow state and the flow table."""

from sensor.flow.key import FlowKey, community_id, key_addresses
from sensor.flow.state import FlowState
from sensor.flow.table import FlowTable, FlowTimeouts

__all__ = [
    "FlowKey",
    "FlowState",
    "FlowTable",
    "FlowTimeouts",
    "community_id",
    "key_addresses",
]
