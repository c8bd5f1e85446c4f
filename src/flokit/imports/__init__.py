"""CSV historical imports (contract §10): upload to disk, validate by row, sort, store, report."""
