"""libpq connection strings for SQLAlchemy URLs: how the PostgreSQL backend
(:mod:`bench.backends.postgres.backend`, :mod:`bench.backends.postgres.database`) and the servers it
starts (:mod:`bench.backends.postgres.servers`) reach a server with psycopg, below them all so
that none imports another to get it."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import URL


def conninfo_for(url: URL, **extra: Any) -> str:
    """A libpq connection string for a SQLAlchemy URL, its query parameters (``sslmode``,
    ``options``, ...) included, as SQLAlchemy's engines pass them; ``extra`` overrides them,
    but for ``options``, which is appended."""
    parameters: dict[str, Any] = {
        key: value[-1] if isinstance(value, tuple) else value for key, value in url.query.items()
    }
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("password", url.password),
        ("dbname", url.database),
    ):
        if value is not None:
            parameters[key] = value
    if "options" in extra:
        extra = {**extra, "options": join_options(parameters.get("options"), extra["options"])}
    return psycopg.conninfo.make_conninfo("", **{**parameters, **extra})


def join_options(given: Any, ours: str) -> str:
    """A server options string with ours after the user's, so ours win where they clash."""
    given_text = given[-1] if isinstance(given, tuple) else given
    return f"{given_text} {ours}" if given_text else ours
