"""Read models built beside the ingest path from the append-only log."""
