"""The ORM's bulk statements: ``insert(User)``, ``update(User)`` and ``delete(User)`` executed
through a Session with lists of parameter dictionaries, and column-oriented ``select()``.

This is the ORM without the unit of work: no objects are tracked, so nothing is loaded first
and nothing is flushed, but the statements still go through the Session and the mappings.
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
from implementations.schema import Post, User

INSERT_USERS_RETURNING_IDS = insert(User).returning(User.id, sort_by_parameter_order=True)
USER_COLUMNS = (User.id, User.username, User.email, User.created_at)


class OrmBulkVariant(Variant):
    """ORM bulk: insert/update/delete(User) with parameter lists through a Session"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.session_factory: sessionmaker[Session] = sessionmaker(connections.engine)

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), rows)"""
        with self.session_factory() as session, session.begin():
            return list(
                session.scalars(INSERT_USERS_RETURNING_IDS, [user_params(u) for u in users])
            )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """session.execute(select(User.id, User.username, ...)): rows, no identity map"""
        statement = select(*USER_COLUMNS).where(User.id.in_(user_ids)).order_by(User.id)
        with self.session_factory() as session, session.begin():
            return [UserRecord(*row) for row in session.execute(statement)]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """session.execute(update(User), [{"id": ..., "email": ...}]): bulk UPDATE by primary key"""
        parameters = [{"id": c.user_id, "email": c.email} for c in changes]
        with self.session_factory() as session, session.begin():
            session.execute(update(User), parameters)

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """session.execute(delete(User).where(User.id.in_(ids)))"""
        with self.session_factory() as session, session.begin():
            session.execute(delete(User).where(User.id.in_(user_ids)))

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """insert(User).returning(User.id) in order, then session.execute(insert(Post), rows)"""
        with self.session_factory() as session, session.begin():
            user_ids = list(
                session.scalars(
                    INSERT_USERS_RETURNING_IDS, [user_params(entry.user) for entry in users]
                )
            )
            session.execute(insert(Post), posts_params(user_ids, users))
            return user_ids

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """session.execute(select(User columns, Post columns).outerjoin(User.posts)): one JOIN"""
        statement = (
            select(
                *USER_COLUMNS,
                Post.id.label("post_id"),
                Post.title,
                Post.body,
                Post.created_at.label("post_created_at"),
            )
            .outerjoin(User.posts)
            .where(User.id.in_(user_ids))
            .order_by(User.id, Post.id)
        )
        with self.session_factory() as session, session.begin():
            return group_joined_rows(session.execute(statement))

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """session.execute(insert(Post), rows) with the user ids given: no collection loaded"""
        with self.session_factory() as session, session.begin():
            session.execute(insert(Post), [post_params(p.user_id, p.post) for p in posts])
