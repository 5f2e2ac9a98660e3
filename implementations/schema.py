"""The schema every variant works on: one MetaData, and ORM classes mapped onto its tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

metadata = MetaData()

user_account = Table(
    "user_account",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("username", String(50), nullable=False, unique=True),
    Column("email", String(120), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

user_blog_post = Table(
    "user_blog_post",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("user_account.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Not in the bare DESIGN schema: PostgreSQL does not index foreign keys by itself, and
    # without it every per-user post lookup (lazy loads, cascades) would scan the whole table.
    Index("ix_user_blog_post_user_id", "user_id"),
)


class Base(DeclarativeBase):
    metadata = metadata


class User(Base):
    __table__ = user_account

    id: Mapped[int]
    username: Mapped[str]
    email: Mapped[str]
    created_at: Mapped[datetime]

    # passive_deletes: the database's ON DELETE CASCADE removes the posts, so deleting a user
    # does not make the ORM load the collection first.
    posts: Mapped[list[Post]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=user_blog_post.c.id,
    )


class Post(Base):
    __table__ = user_blog_post

    id: Mapped[int]
    user_id: Mapped[int]
    title: Mapped[str]
    body: Mapped[str]
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship(back_populates="posts")
