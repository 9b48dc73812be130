"""Web dashboard of the box: live captions, streams, assets, uploads and health, behind a login."""

from edge.dashboard.app import create_app, serve

__all__ = ["create_app", "serve"]
