"""The ingest pipeline, one module per stage: receive → auth → decode → validate → ids → store."""
