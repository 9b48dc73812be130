"""Inference backends as plugins, registered by key (see base.py)."""

from edge.backends.base import Backend, RuntimeSettings, TensorSession, get_backend

__all__ = ["Backend", "RuntimeSettings", "TensorSession", "get_backend"]
