"""What every route handler works with, built once per app by ``build_app``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from flokit.imports.job import ImportPaths
from flokit.imports.runner import ImportRunner
from flokit.metrics import Metrics
from flokit.pipeline.ingest import Ingestor
from flokit.settings import Settings
from flokit.store.contract import InFlightMarkers, Limiter, Store

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    ingestor: Ingestor
    metrics: Metrics
    clock: Clock
    limiter: Limiter
    in_flight: InFlightMarkers
    imports: ImportRunner
    import_paths: ImportPaths

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)


def services(request: Request) -> Services:
    """The services of the app serving this request."""
    found: Services = request.app.state.services
    return found
