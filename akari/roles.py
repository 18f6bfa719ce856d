"""Roles: who may administer the studio. Roles are read from the database, never from a cookie or a form."""

from __future__ import annotations

from collections.abc import Iterable

ADMIN = "admin"
MEMBER = "member"
ROLES = (ADMIN, MEMBER)


def is_admin(roles: Iterable[str] | None) -> bool:
    return ADMIN in (roles or ())


def role_label(roles: Iterable[str] | None) -> str:
    return "Administrator" if is_admin(roles) else "Member"
