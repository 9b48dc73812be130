"""FastAPI dependencies shared by the route modules."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPBearer

from edge.dashboard.accounts import Role, allows, check_role
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


def require_role(needed: Role) -> Callable[..., str]:
    """A dependency: the logged-in username if their role allows what `needed` may do, else 403.

    `Depends(require_role("editor"))` on a route or router; viewers < editors < admins."""
    check_role(needed)

    def dependency(request: Request, user: str = Depends(require_user)) -> str:
        role = getattr(request.state, "role", None)
        if not allows(role, needed):
            who = f"an {role}" if role in ("admin", "editor") else f"a {role}" if role else "not logged in"
            raise HTTPException(403, f"this needs the {needed} role; you are {who}: ask an admin")
        return user

    dependency.__name__ = f"require_{needed}"
    return dependency


def current_role(request: Request) -> Role | None:
    return getattr(request.state, "role", None)
