"""Edge box runtime: ingest, inference, store and dashboard for news crews."""

__version__ = "0.1.0"
