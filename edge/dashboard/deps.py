"""FastAPI dependencies shared by the route modules."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPBearer

from edge.dashboard.auth import COOKIE
from edge.runtime.box import Box

# Declared so OpenAPI documents both ways to authenticate; the check itself is AuthGate's.
_bearer = HTTPBearer(auto_error=False, description="token from POST /api/login")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="set by POST /api/login")


def get_box(request: Request) -> Box:
    return request.app.state.box


def require_user(request: Request, _b: object = Depends(_bearer), _c: object = Depends(_cookie)) -> str:
    """The logged-in username. AuthGate already refused anonymous requests; this is the second lock."""
    user = getattr(request.state, "user", None)
    if not user:
        raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Bearer"})
    return user
