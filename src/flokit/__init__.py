"""FloKit: a self-hostable implementation of the FloKit Events API."""

__version__ = "0.1.0"
