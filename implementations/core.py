"""SQLAlchemy Core: Table constructs executed on a Connection from the shared Engine.

Inserts that need the new ids use ``insert().returning(..., sort_by_parameter_order=True)`` with
a list of parameter sets, which SQLAlchemy runs as "insertmanyvalues" batches; other multi-row
statements are one executemany call.

Every statement is built once, outside any timed call, with bound parameters (a list of ids
bound as one, as the raw driver binds it: :meth:`~implementations.drivers.DriverSql.ids_match`),
as SQLAlchemy's ``examples/performance`` builds its Core statements: a statement built inside
the call pays for its construction and its cache key on every call (``core_inline`` shows what
that costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Delete, Engine, Select, bindparam, delete, insert, select, update

from implementations._rows import group_joined_rows
from implementations._workers import workers_engine
from implementations.contract import (
    Connections,
    EmailChange,
    NewPost,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserRequest,
    UserWithPosts,
    Variant,
    revised_email,
)
from implementations.drivers import DriverSql, driver_sql, ids
from implementations.schema import user_account, user_blog_post

_users = user_account.c
_posts = user_blog_post.c

INSERT_USERS_RETURNING_IDS = insert(user_account).returning(_users.id, sort_by_parameter_order=True)
INSERT_POSTS = insert(user_blog_post)
UPDATE_EMAIL_BY_ID = (
    update(user_account)
    .where(_users.id == bindparam("target_id"))
    .values(email=bindparam("new_email"))
)
SELECT_USER_BY_ID = select(user_account).where(_users.id == bindparam("user_id"))
#: FOR UPDATE where the backend has row locks (SQLAlchemy renders nothing on SQLite, whose
#: engine takes the database's write lock at BEGIN instead: implementations/drivers/sqlite.py)
SELECT_USER_BY_ID_FOR_UPDATE = SELECT_USER_BY_ID.with_for_update()
SELECT_USERS_WITH_POSTS = (
    select(
        _users.id,
        _users.username,
        _users.email,
        _users.created_at,
        _posts.id.label("post_id"),
        _posts.title,
        _posts.body,
        _posts.created_at.label("post_created_at"),
    )
    .select_from(user_account.outerjoin(user_blog_post))
    .order_by(_users.id, _posts.id)
)


class CoreStatements:
    """The statements on a list of ids, built once for the backend's driver: the ids are
    bound as ``ids`` when they run."""

    def __init__(self, sql: DriverSql) -> None:
        self.select_users: Select[Any] = (
            select(user_account).where(sql.ids_match(_users.id)).order_by(_users.id)
        )
        self.delete_users: Delete = delete(user_account).where(sql.ids_match(_users.id))
        self.select_users_with_posts: Select[Any] = SELECT_USERS_WITH_POSTS.where(
            sql.ids_match(_users.id)
        )


class CoreVariant(Variant):
    """Core: Table constructs executed on a Connection of the pooled Engine"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.engine: Engine = connections.engine
        self.statements = CoreStatements(driver_sql(connections.backend))
        self.workers_engine: Engine | None = None

    def prepare_workers(self, workers: int) -> None:
        if self.workers_engine is not None:
            self.workers_engine.dispose()
        self.workers_engine = workers_engine(self.connections, workers) if workers else None

    def close(self) -> None:
        self.prepare_workers(0)

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """insert(user_account).returning(id, sort_by_parameter_order=True) with all rows"""
        with self.engine.begin() as connection:
            return list(
                connection.scalars(INSERT_USERS_RETURNING_IDS, [user_params(u) for u in users])
            )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """select(user_account) on the list of ids, built once; rows turned into records"""
        with self.engine.begin() as connection:
            rows = connection.execute(self.statements.select_users, ids(user_ids))
            return [UserRecord(*row) for row in rows]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """update(user_account) WHERE id = :target_id, executemany over all changes"""
        parameters = [{"target_id": c.user_id, "new_email": c.email} for c in changes]
        with self.engine.begin() as connection:
            connection.execute(UPDATE_EMAIL_BY_ID, parameters)

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one delete(user_account) on the list of ids, built once"""
        with self.engine.begin() as connection:
            connection.execute(self.statements.delete_users, ids(user_ids))

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users with insert().returning(id) in order, then all posts in one executemany"""
        with self.engine.begin() as connection:
            user_ids = list(
                connection.scalars(
                    INSERT_USERS_RETURNING_IDS, [user_params(entry.user) for entry in users]
                )
            )
            connection.execute(INSERT_POSTS, posts_params(user_ids, users))
            return user_ids

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """one SELECT users LEFT OUTER JOIN posts, built once; rows grouped per user"""
        with self.engine.begin() as connection:
            rows = connection.execute(self.statements.select_users_with_posts, ids(user_ids))
            return group_joined_rows(rows)

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """insert(user_blog_post) with the user ids given, one executemany"""
        with self.engine.begin() as connection:
            connection.execute(INSERT_POSTS, [post_params(p.user_id, p.post) for p in posts])

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """a Connection of an Engine whose pool fits the workers; SELECT ... FOR UPDATE, UPDATE"""
        assert self.workers_engine is not None, "prepare_workers() first"
        return revise_email(self.workers_engine, request.user_id)

    def connect_read_one(self, user_id: int) -> UserRecord:
        """a Connection from the process's one Engine and its pool (QueuePool)"""
        return read_user(self.engine, user_id)


class CoreInlineVariant(Variant):
    """Core with its SELECT built inside each call, as much application code writes it"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.engine: Engine = connections.engine
        self.sql = driver_sql(connections.backend)

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """core's SELECT, the same SQL, built inside every call (its construction and cache
        key paid each time)"""
        statement = select(user_account).where(self.sql.ids_match(_users.id)).order_by(_users.id)
        with self.engine.begin() as connection:
            return [UserRecord(*row) for row in connection.execute(statement, ids(user_ids))]


def user_params(user: NewUser) -> dict[str, Any]:
    return {"username": user.username, "email": user.email, "created_at": user.created_at}


def post_params(user_id: int, post: NewPost) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "title": post.title,
        "body": post.body,
        "created_at": post.created_at,
    }


def posts_params(
    user_ids: Sequence[int], users: Sequence[NewUserWithPosts]
) -> list[dict[str, Any]]:
    """Every user's posts, each with the id the database gave that user."""
    return [
        post_params(user_id, post)
        for user_id, entry in zip(user_ids, users, strict=True)
        for post in entry.posts
    ]


def read_user(engine: Engine, user_id: int) -> UserRecord:
    """One unit of work on a connection checked out of ``engine``: read a user by id."""
    connection: Connection
    with engine.begin() as connection:
        return UserRecord(*connection.execute(SELECT_USER_BY_ID, {"user_id": user_id}).one())


def revise_email(engine: Engine, user_id: int) -> UserRecord:
    """One request on a connection checked out of ``engine``: read the user with its row
    locked, write the email revised from the one read, commit; the user as read."""
    with engine.begin() as connection:
        read = UserRecord(
            *connection.execute(SELECT_USER_BY_ID_FOR_UPDATE, {"user_id": user_id}).one()
        )
        connection.execute(
            UPDATE_EMAIL_BY_ID, {"target_id": user_id, "new_email": revised_email(read.email)}
        )
        return read
