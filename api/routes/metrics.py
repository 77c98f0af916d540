"""/metrics for Prometheus: readable with a `noc`, `auditor` or `admin` token (Prometheus sends
it as `authorization: {credentials: …}`), like every other view of the network's state."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import MonitorDep
from api.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "the metrics in Prometheus's text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(monitor: MonitorDep) -> Response:
    """Counters and histograms fed by each pass; gauges of now, read from the store."""
    return Response(monitor.exposition(), media_type=CONTENT_TYPE)
