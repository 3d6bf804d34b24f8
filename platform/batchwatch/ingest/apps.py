from django.apps import AppConfig


class IngestConfig(AppConfig):
    """Telemetry intake: OTLP/HTTP, OpenLineage, Spark event logs, Flink. Parses at the edge."""

    name = "batchwatch.ingest"
    label = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from batchwatch.ingest import (
            periodic,  # noqa: F401 - registers periodic work
            quarantine,  # noqa: F401 - registers its retry handlers
        )
