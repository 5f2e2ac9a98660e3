"""A helper outside the variants' own modules that builds a statement: the fairness check
must see a variant build through it. Used by the tests only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from implementations.schema import user_account


def users_statement(ids_match: Any) -> Any:
    """select(user_account) on a list of ids, built anew on every call."""
    return select(user_account).where(ids_match(user_account.c.id)).order_by(user_account.c.id)
