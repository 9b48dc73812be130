"""Logging in and out. Login is public, rate-limited, and answers the same for a wrong name or password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from edge.dashboard.auth import Auth, retry_after_header
from edge.dashboard.deps import require_user

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>` from scripts")
    username: str
    expires_at: float = Field(description="unix time")


@router.post(
    "/api/login",
    response_model=LoginOut,
    responses={401: {"description": "wrong username or password"},
               429: {"description": "too many failed attempts; see Retry-After"}},
)
def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Start a session: sets the HttpOnly, SameSite=Strict cookie and returns a bearer token."""
    auth: Auth = request.app.state.auth
    # The peer address, or the proxy's X-Forwarded-For only when dashboard.proxy_headers says so.
    client = request.client.host if request.client else "unknown"
    wait, attempt = auth.limiter.begin(client, body.username)
    if attempt is None:
        # This address's own failures: refused before the password is looked at, so a locked-out
        # guesser cannot tell a right guess from a wrong one.
        assert wait is not None
        raise HTTPException(429, f"too many failed logins; try again in {int(wait) + 1} s",
                            headers=retry_after_header(wait))
    if not auth.users.verify(body.username, body.password):
        auth.limiter.failed(attempt)
        raise HTTPException(401, "wrong username or password")
    auth.limiter.succeeded(attempt)
    session = auth.sessions.create(body.username)
    response.headers.append("set-cookie", auth.cookie_header(session, request.url.scheme))
    return LoginOut(token=session.token, username=session.username, expires_at=session.expires_at)


@router.post("/api/logout", status_code=204, response_class=Response, dependencies=[Depends(require_user)])
def logout(request: Request) -> Response:
    """End this session (cookie or bearer token alike)."""
    auth: Auth = request.app.state.auth
    session = request.state.session
    auth.sessions.revoke(session.token if session else None)
    response = Response(status_code=204)
    response.headers.append("set-cookie", auth.clear_cookie_header(request.url.scheme))
    return response
