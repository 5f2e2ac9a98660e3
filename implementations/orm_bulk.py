"""The ORM's bulk statements: ``insert(User)``, ``update(User)`` and ``delete(User)`` executed
through a Session with lists of parameter dictionaries, and column-oriented ``select()``.

This is the ORM without the unit of work: no objects are tracked, so nothing is loaded first
and nothing is flushed, but the statements still go through the Session and the mappings.
Statements are built once, as in ``core``; the list of ids is bound when they run.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from implementations._rows import group_joined_rows
from implementations.contract import (
    Connections,
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserWithPosts,
    Variant,
)
from implementations.core import post_params, posts_params, user_params
from implementations.drivers import DriverSql, driver_sql, ids
from implementations.schema import Post, User

INSERT_USERS_RETURNING_IDS = insert(User).returning(User.id, sort_by_parameter_order=True)
INSERT_POSTS = insert(Post)
#: the ORM's bulk UPDATE by primary key: each parameter set names the row by its "id"
UPDATE_USERS = update(User)
USER_COLUMNS = (User.id, User.username, User.email, User.created_at)
USERS_WITH_POSTS_COLUMNS = (
    *USER_COLUMNS,
    Post.id.label("post_id"),
    Post.title,
    Post.body,
    Post.created_at.label("post_created_at"),
)


class OrmBulkStatements:
    """The statements on a list of ids, built once for the backend's driver."""

    def __init__(self, sql: DriverSql) -> None:
        self.select_users = select(*USER_COLUMNS).where(sql.ids_match(User.id)).order_by(User.id)
        # no Session here holds objects to keep in step with the DELETE: synchronize_session
        # False spares the RETURNING of the deleted ids that "auto" would add ("ORM-Enabled
        # INSERT, UPDATE, and DELETE statements", SQLAlchemy's docs)
        self.delete_users = (
            delete(User).where(sql.ids_match(User.id)).execution_options(synchronize_session=False)
        )
        self.select_users_with_posts = (
            select(*USERS_WITH_POSTS_COLUMNS)
            .outerjoin(User.posts)
            .where(sql.ids_match(User.id))
            .order_by(User.id, Post.id)
        )


class OrmBulkVariant(Variant):
    """ORM bulk: insert/update/delete(User) with parameter lists through a Session"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.session_factory: sessionmaker[Session] = sessionmaker(connections.engine)
        self.statements = OrmBulkStatements(driver_sql(connections.backend))

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), rows)"""
        with self.session_factory() as session, session.begin():
            return list(
                session.scalars(INSERT_USERS_RETURNING_IDS, [user_params(u) for u in users])
            )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """session.execute(select(User.id, User.username, ...)): rows, no identity map"""
        with self.session_factory() as session, session.begin():
            rows = session.execute(self.statements.select_users, ids(user_ids))
            return [UserRecord(*row) for row in rows]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """session.execute(update(User), [{"id": ..., "email": ...}]): bulk UPDATE by primary key"""
        parameters = [{"id": c.user_id, "email": c.email} for c in changes]
        with self.session_factory() as session, session.begin():
            session.execute(UPDATE_USERS, parameters)

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """session.execute(delete(User) on the list of ids, built once)"""
        with self.session_factory() as session, session.begin():
            session.execute(self.statements.delete_users, ids(user_ids))

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """insert(User).returning(User.id) in order, then session.execute(insert(Post), rows)"""
        with self.session_factory() as session, session.begin():
            user_ids = list(
                session.scalars(
                    INSERT_USERS_RETURNING_IDS, [user_params(entry.user) for entry in users]
                )
            )
            session.execute(INSERT_POSTS, posts_params(user_ids, users))
            return user_ids

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """session.execute(select(User columns, Post columns).outerjoin(User.posts)): one JOIN"""
        with self.session_factory() as session, session.begin():
            rows = session.execute(self.statements.select_users_with_posts, ids(user_ids))
            return group_joined_rows(rows)

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """session.execute(insert(Post), rows) with the user ids given: no collection loaded"""
        with self.session_factory() as session, session.begin():
            session.execute(INSERT_POSTS, [post_params(p.user_id, p.post) for p in posts])
