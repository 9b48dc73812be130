"""Crew accounts: the admins' users page and API, and everyone's "my account" page.

Removing a user or resetting their password ends all their sessions at
once (their open live pages too); a role change takes effect on their next
request, since the gate reads the role afresh each time.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from edge.dashboard.accounts import (MAX_PASSWORD, MIN_PASSWORD, USERNAME_RULE, AccountError, Role, UserStore,
                                     check_username)
from edge.dashboard.auth import Auth
from edge.dashboard.deps import require_role, require_user
from edge.dashboard.routes.pages import render

router = APIRouter()
admin_only = [Depends(require_role("admin"))]


class UserOut(BaseModel):
    name: str
    role: Role
    password_changed_at: float = Field(description="unix time")
    sessions: int = Field(description="devices logged in now")


class UsersOut(BaseModel):
    users: list[UserOut]


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description=USERNAME_RULE, examples=["maria"])
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    role: Role = "viewer"


class RoleIn(BaseModel):
    role: Role


class PasswordIn(BaseModel):
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


def _auth(request: Request) -> Auth:
    return request.app.state.auth


def _users(auth: Auth) -> list[UserOut]:
    return [UserOut(name=a.name, role=a.role, password_changed_at=a.updated_at, sessions=auth.sessions.count(a.name))
            for a in auth.users.accounts()]


def _refused(exc: AccountError) -> HTTPException:
    status = 404 if str(exc).startswith("no user named") else 409 if "already exists" in str(exc) else 422
    return HTTPException(status, str(exc))


@router.get("/api/users", response_model=UsersOut, tags=["users"], dependencies=admin_only)
def list_users(request: Request) -> UsersOut:
    return UsersOut(users=_users(_auth(request)))


@router.post("/api/users", response_model=UserOut, status_code=201, tags=["users"], dependencies=admin_only,
             responses={409: {"description": "that name is taken"}, 422: {"description": "bad name or password"}})
def add_user(body: UserIn, request: Request) -> UserOut:
    auth = _auth(request)
    try:
        account = auth.users.add(check_username(body.name), body.password, body.role)
    except AccountError as exc:
        raise _refused(exc) from None
    return UserOut(name=account.name, role=account.role, password_changed_at=account.updated_at, sessions=0)


@router.put("/api/users/{name}/role", response_model=UserOut, tags=["users"], dependencies=admin_only,
            responses={404: {"description": "no such user"}, 422: {"description": "the last admin stays admin"}})
def set_role(name: str, body: RoleIn, request: Request) -> UserOut:
    auth = _auth(request)
    try:
        auth.users.set_role(name, body.role)
    except AccountError as exc:
        raise _refused(exc) from None
    return next(u for u in _users(auth) if u.name == name)


@router.post("/api/users/{name}/password", response_model=UserOut, tags=["users"], dependencies=admin_only,
             responses={404: {"description": "no such user"}})
def reset_password(name: str, body: PasswordIn, request: Request) -> UserOut:
    """Set someone's password (they forgot it, or a phone was lost): all their sessions end."""
    auth = _auth(request)
    try:
        auth.users.set_password(name, body.password)
    except AccountError as exc:
        raise _refused(exc) from None
    keep = request.state.session.token if name == request.state.user else None  # an admin resetting their own
    auth.sessions.revoke_user(name, keep=keep)
    return next(u for u in _users(auth) if u.name == name)


@router.delete("/api/users/{name}", status_code=204, tags=["users"], dependencies=admin_only,
               responses={404: {"description": "no such user"}, 422: {"description": "the last admin stays"}})
def remove_user(name: str, request: Request) -> None:
    """Remove the account and log it out everywhere."""
    auth = _auth(request)
    try:
        auth.users.remove(name)
    except AccountError as exc:
        raise _refused(exc) from None
    auth.sessions.revoke_user(name)


@router.get("/users", include_in_schema=False, dependencies=admin_only)
def users_page(request: Request) -> HTMLResponse:
    return render(request, "users.html", "users", users=_users(_auth(request)), rule=USERNAME_RULE,
                  min_password=MIN_PASSWORD)


@router.get("/account", include_in_schema=False)
def account_page(request: Request, user: str = Depends(require_user)) -> HTMLResponse:
    users: UserStore = _auth(request).users
    return render(request, "account.html", "account", role=request.state.role, min_password=MIN_PASSWORD,
                  initial_password=user == "admin" and users.initial_password_file.is_file())
