"""Pure rules of the read side (analytics.md): no I/O, nothing of the project imported."""
