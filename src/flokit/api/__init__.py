"""Thin HTTP handlers: request → pipeline stages → response."""
