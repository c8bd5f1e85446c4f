"""Prometheus metrics of one app instance (its own registry: no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from flokit.model import EventOutcome, Rejection


class Metrics:
    """Requests by status, events by outcome and rejection code, batch latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "flokit_http_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.events = Counter(
            "flokit_events",
            "Events received, by outcome (accepted, duplicate, rejected) and rejection code.",
            ["outcome", "code"],
            registry=self.registry,
        )
        self.integration_drops = Counter(
            "flokit_integration_drops",
            "Provider events dropped (sandbox, unknown type, invalid…), by provider and reason.",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "flokit_batch_duration_seconds",
            "Time to answer an ingest request, durable commit included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

        self.projection_position = Gauge(
            "flokit_projection_position",
            "The newest log position (seq) the read models reflect.",
            registry=self.registry,
        )
        self.projection_lag_events = Gauge(
            "flokit_projection_lag_events",
            "Events in the log that the read models do not reflect yet.",
            registry=self.registry,
        )
        self.projection_lag_seconds = Gauge(
            "flokit_projection_lag_seconds",
            "Age of the oldest event the read models do not reflect yet (0: caught up).",
            registry=self.registry,
        )

    def count_events(self, accepted: int, duplicates: int, rejections: list[Rejection]) -> None:
        """Record one request's per-event outcomes."""
        if accepted - duplicates:
            self.events.labels(EventOutcome.ACCEPTED, "").inc(accepted - duplicates)
        if duplicates:
            self.events.labels(EventOutcome.DUPLICATE, "").inc(duplicates)
        for rejection in rejections:
            self.events.labels(EventOutcome.REJECTED, rejection.code).inc()

    def count_drops(self, provider: str, dropped: dict[str, int]) -> None:
        """Record one delivery's drops by reason."""
        for reason, count in dropped.items():
            self.integration_drops.labels(provider, reason).inc(count)

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
