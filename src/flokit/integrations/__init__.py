"""Provider webhooks and callbacks turned into canonical events (spec: integrations.md)."""
