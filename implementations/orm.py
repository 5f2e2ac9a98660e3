"""The SQLAlchemy ORM as its documentation teaches it: a Session per unit of work, mapped
objects, relationship cascades, and the loader strategy chosen per query.

``orm`` is the style at its best; ``orm_lazy`` and ``orm_joined`` differ from it only in how the
posts collection is loaded, for the parent-child workloads where that choice matters;
``orm_collection`` appends new posts through the loaded ``User.posts`` collection instead of
adding them with the user ids in hand; ``orm_scoped`` differs only in how a thread gets its
Session, for the concurrent workload.

Statements whose shape is fixed are built once per variant instance (outside any timed call)
with the list of ids as a bound parameter, as SQLAlchemy's ``examples/performance`` and its
"SQL Compilation Caching" documentation advise; the ids are bound when the statement runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload, scoped_session, selectinload, sessionmaker
from sqlalchemy.sql.base import ExecutableOption

from implementations._workers import workers_engine
from implementations.contract import (
    Connections,
    EmailChange,
    NewPost,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    PostRecord,
    UserRecord,
    UserRequest,
    UserWithPosts,
    Variant,
    revised_email,
)
from implementations.drivers import DriverSql, driver_sql, ids
from implementations.schema import Post, User


class _OrmVariantBase(Variant):
    #: how the variant loads the posts of the users it reads (None: lazily, on first access)
    posts_loader: ClassVar[ExecutableOption | None] = selectinload(User.posts)
    #: whether the loader repeats each user once per post (a joined collection), so the
    #: result needs unique()
    repeats_users: ClassVar[bool] = False

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.session_factory: sessionmaker[Session] = sessionmaker(connections.engine)
        self.statements = OrmStatements(driver_sql(connections.backend), self.posts_loader)
        #: for the concurrent workload: an Engine whose pool fits the worker threads
        self.workers_engine: Engine | None = None

    def prepare_workers(self, workers: int) -> None:
        if self.workers_engine is not None:
            self.workers_engine.dispose()
        self.workers_engine = workers_engine(self.connections, workers) if workers else None
        self._workers_ready()

    def _workers_ready(self) -> None:
        """Make the sessions of the workers' engine (a new one, or None)."""

    def _read_users_with_posts(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        with self.session_factory() as session, session.begin():
            users = session.scalars(self.statements.users_with_posts, ids(user_ids))
            return [_user_with_posts(u) for u in (users.unique() if self.repeats_users else users)]

    def close(self) -> None:
        self.prepare_workers(0)


class OrmVariant(_OrmVariantBase):
    """ORM: Session unit of work with mapped objects and relationship cascades"""

    workers_sessions: sessionmaker[Session] | None = None

    def _workers_ready(self) -> None:
        self.workers_sessions = sessionmaker(self.workers_engine) if self.workers_engine else None

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """Session.add_all() of new User objects; ids read after the flush"""
        with self.session_factory() as session, session.begin():
            new_users = [_new_user(user) for user in users]
            session.add_all(new_users)
            session.flush()
            return [user.id for user in new_users]

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """select(User) on the list of ids, built once; each mapped object turned into a record"""
        with self.session_factory() as session, session.begin():
            users = session.scalars(self.statements.users, ids(user_ids))
            return [_user_record(user) for user in users]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """load the Users by id in one SELECT, set .email; the flush UPDATEs them"""
        new_email = {change.user_id: change.email for change in changes}
        with self.session_factory() as session, session.begin():
            for user in session.scalars(self.statements.users_unordered, ids(new_email)):
                user.email = new_email[user.id]

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """load the Users by id in one SELECT, Session.delete() each; the flush DELETEs"""
        with self.session_factory() as session, session.begin():
            for user in session.scalars(self.statements.users_unordered, ids(user_ids)):
                session.delete(user)

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """User objects holding their Post objects; add_all() and the cascade inserts both"""
        with self.session_factory() as session, session.begin():
            new_users = [_new_user_with_posts(entry) for entry in users]
            session.add_all(new_users)
            session.flush()
            return [user.id for user in new_users]

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """select(User) with selectinload(User.posts): one SELECT for users, one for posts"""
        return self._read_users_with_posts(user_ids)

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """Session.add_all() of new Post(user_id=...) objects: the ids are in hand, so
        nothing is loaded; the flush INSERTs them"""
        with self.session_factory() as session, session.begin():
            session.add_all([_new_post_for_user(new_post) for new_post in posts])

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """a new Session per request, on an Engine whose pool fits the workers;
        Session.get(User, id, with_for_update=True), set .email, commit"""
        assert self.workers_sessions is not None, "prepare_workers() first"
        with self.workers_sessions() as session, session.begin():
            return _revise_email(session, request.user_id)

    def connect_read_one(self, user_id: int) -> UserRecord:
        """a Session on the process's pooled engine; Session.get(User, id)"""
        with self.session_factory() as session, session.begin():
            user = session.get(User, user_id)
            assert user is not None, user_id
            return _user_record(user)


class OrmLazyLoadingVariant(_OrmVariantBase):
    """ORM with the default lazy loading of collections (the N+1 pattern)"""

    posts_loader: ClassVar[ExecutableOption | None] = None

    # 1 + N queries: at 1000 parents one execution takes seconds and the run minutes, to show
    # what sizes up to 100 already show
    largest_default_size: ClassVar[int | None] = 100

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """select(User), then each user.posts loads on first access: 1 + N SELECTs"""
        return self._read_users_with_posts(user_ids)

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """load the Users, then user.posts.append(): each first append loads that collection"""
        with self.session_factory() as session, session.begin():
            users = session.scalars(self.statements.users_to_append_to, users_to_append_to(posts))
            _append_posts(users, posts)


class OrmCollectionAppendVariant(_OrmVariantBase):
    """ORM appending through the relationship: each user's posts collection loaded first"""

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """load the Users with selectinload(User.posts), then user.posts.append(Post(...)):
        what appending to a collection costs when it is not loaded yet"""
        with self.session_factory() as session, session.begin():
            users = session.scalars(self.statements.users_to_append_to, users_to_append_to(posts))
            _append_posts(users, posts)


class OrmJoinedLoadingVariant(_OrmVariantBase):
    """ORM with joinedload(): users and posts in one LEFT OUTER JOIN"""

    posts_loader: ClassVar[ExecutableOption | None] = joinedload(User.posts)
    repeats_users: ClassVar[bool] = True

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """select(User) with joinedload(User.posts): one SELECT with a LEFT OUTER JOIN"""
        return self._read_users_with_posts(user_ids)


class OrmScopedSessionVariant(_OrmVariantBase):
    """ORM with scoped_session: each thread's own Session, removed after each request"""

    workers_session: scoped_session[Session] | None = None

    def _workers_ready(self) -> None:
        self.workers_session = (
            scoped_session(sessionmaker(self.workers_engine)) if self.workers_engine else None
        )

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """the thread's Session from scoped_session(), on an Engine whose pool fits the workers;
        Session.get(User, id, with_for_update=True), set .email, commit, then remove()"""
        assert self.workers_session is not None, "prepare_workers() first"
        try:
            with self.workers_session.begin():
                return _revise_email(self.workers_session(), request.user_id)
        finally:
            # as a web framework's end-of-request hook does: the next request on this thread
            # starts with a new Session, not this one's identity map
            self.workers_session.remove()


def _revise_email(session: Session, user_id: int) -> UserRecord:
    """In the session's transaction: load the user with its row locked, set the email revised
    from the one read (the flush at commit UPDATEs it); the user as read."""
    user = session.get(User, user_id, with_for_update=True)
    assert user is not None, user_id
    read = _user_record(user)
    user.email = revised_email(user.email)
    return read


def _new_user(user: NewUser) -> User:
    return User(username=user.username, email=user.email, created_at=user.created_at)


def _new_post(post: NewPost) -> Post:
    return Post(title=post.title, body=post.body, created_at=post.created_at)


def _new_user_with_posts(entry: NewUserWithPosts) -> User:
    """A new User holding its new Posts: the cascade inserts both."""
    user = _new_user(entry.user)
    user.posts = [_new_post(post) for post in entry.posts]
    return user


def _user_record(user: User) -> UserRecord:
    return UserRecord(user.id, user.username, user.email, user.created_at)


def _post_record(post: Post) -> PostRecord:
    return PostRecord(post.id, post.user_id, post.title, post.body, post.created_at)


class OrmStatements:
    """The variant's SELECTs of users by id, built once: the ids are bound as ``ids`` when
    they run (:func:`ids`), as the raw driver binds its list."""

    def __init__(self, sql: DriverSql, posts_loader: ExecutableOption | None) -> None:
        self.users_unordered = select(User).where(sql.ids_match(User.id))
        self.users = self.users_unordered.order_by(User.id)
        #: the users ordered by id, their posts loaded as the variant says
        self.users_with_posts = (
            self.users if posts_loader is None else self.users.options(posts_loader)
        )
        #: the users new posts are appended to, their posts loaded as the variant says
        self.users_to_append_to = (
            self.users_unordered
            if posts_loader is None
            else self.users_unordered.options(posts_loader)
        )


def _user_with_posts(user: User) -> UserWithPosts:
    return UserWithPosts(_user_record(user), tuple(_post_record(post) for post in user.posts))


def _new_post_for_user(new_post: NewPostForUser) -> Post:
    """A new Post of a user that exists, by its id: no User object needed."""
    post = new_post.post
    return Post(
        user_id=new_post.user_id, title=post.title, body=post.body, created_at=post.created_at
    )


def users_to_append_to(posts: Sequence[NewPostForUser]) -> dict[str, Any]:
    """The parameters of the SELECT of the Users the new posts belong to, each once."""
    return ids(dict.fromkeys(post.user_id for post in posts))


def _append_posts(users: Iterable[User], posts: Sequence[NewPostForUser]) -> None:
    """Each new post appended to its User's collection, in input order."""
    by_id = {user.id: user for user in users}
    for new_post in posts:
        by_id[new_post.user_id].posts.append(_new_post(new_post.post))
