"""Turning the rows of one users-JOIN-posts query into nested records, for every variant that
reads parents and children with a single JOIN."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from implementations.contract import PostRecord, UserRecord, UserWithPosts

#: the column order of the JOIN: the user's four columns, then the post's (NULL when it has none)
JOINED_COLUMNS = (
    "user_id",
    "username",
    "email",
    "user_created_at",
    "post_id",
    "title",
    "body",
    "post_created_at",
)


def group_joined_rows(rows: Iterable[Sequence[Any]]) -> list[UserWithPosts]:
    """Rows ordered by user id then post id -> one UserWithPosts per user."""
    grouped = []
    for _, user_rows in groupby(rows, key=itemgetter(0)):
        user_rows_list = list(user_rows)
        user_id, username, email, user_created_at = user_rows_list[0][:4]
        posts = tuple(
            PostRecord(row[4], user_id, row[5], row[6], row[7])
            for row in user_rows_list
            if row[4] is not None
        )
        grouped.append(UserWithPosts(UserRecord(user_id, username, email, user_created_at), posts))
    return grouped
