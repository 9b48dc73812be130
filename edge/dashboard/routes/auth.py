"""Logging in and out, and one's own account. Login is public, rate-limited, and answers the same for a
wrong name or password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from edge.dashboard.accounts import MAX_PASSWORD, MIN_PASSWORD, AccountError, Role
from edge.dashboard.auth import Auth, retry_after_header
from edge.dashboard.deps import require_user

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>` from scripts")
    username: str
    role: Role
    expires_at: float = Field(description="unix time")


class AccountOut(BaseModel):
    username: str
    role: Role
    expires_at: float = Field(description="when this session ends at the latest (unix time)")


class PasswordChange(BaseModel):
    current: str = Field(min_length=1, max_length=MAX_PASSWORD, description="the password you log in with now")
    new: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD,
                     description=f"at least {MIN_PASSWORD} characters")


class PasswordChanged(BaseModel):
    other_sessions_ended: int = Field(description="your other logins (phones, laptops) that were logged out")


@router.post(
    "/api/login",
    response_model=LoginOut,
    responses={401: {"description": "wrong username or password"},
               429: {"description": "too many failed attempts; see Retry-After"}},
)
def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Start a session: sets the HttpOnly, SameSite=Strict cookie (Secure over HTTPS) and returns a bearer token."""
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
    role = auth.users.role(body.username)
    if not auth.users.verify(body.username, body.password) or role is None:
        auth.limiter.failed(attempt)
        raise HTTPException(401, "wrong username or password")
    auth.limiter.succeeded(attempt)
    session = auth.sessions.create(body.username)
    response.headers.append("set-cookie", auth.cookie_header(session, request.url.scheme))
    return LoginOut(token=session.token, username=session.username, role=role, expires_at=session.expires_at)


@router.post("/api/logout", status_code=204, response_class=Response, dependencies=[Depends(require_user)])
def logout(request: Request) -> Response:
    """End this session (cookie or bearer token alike)."""
    auth: Auth = request.app.state.auth
    session = request.state.session
    auth.sessions.revoke(session.token if session else None)
    response = Response(status_code=204)
    response.headers.append("set-cookie", auth.clear_cookie_header(request.url.scheme))
    return response


@router.get("/api/account", response_model=AccountOut)
def account(request: Request, user: str = Depends(require_user)) -> AccountOut:
    """Who this session belongs to and what they may do."""
    return AccountOut(username=user, role=request.state.role, expires_at=request.state.session.expires_at)


@router.post("/api/account/password", response_model=PasswordChanged,
             responses={403: {"description": "the current password is wrong"},
                        422: {"description": "the new password is too short or too long"}})
def change_password(body: PasswordChange, request: Request, user: str = Depends(require_user)) -> PasswordChanged:
    """Change your own password (any role). Your other sessions end; this one stays logged in."""
    auth: Auth = request.app.state.auth
    client = request.client.host if request.client else "unknown"
    # The current password is a login in disguise: the same limits keep a stolen phone from guessing it.
    wait, attempt = auth.limiter.begin(client, user)
    if attempt is None:
        assert wait is not None
        raise HTTPException(429, f"too many wrong passwords; try again in {int(wait) + 1} s",
                            headers=retry_after_header(wait))
    if not auth.users.verify(user, body.current):
        auth.limiter.failed(attempt)
        raise HTTPException(403, "the current password is wrong (fix: type the password you logged in with)")
    auth.limiter.succeeded(attempt)
    try:
        auth.users.set_password(user, body.new)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None
    ended = auth.sessions.revoke_user(user, keep=request.state.session.token)
    return PasswordChanged(other_sessions_ended=ended)
