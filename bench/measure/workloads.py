"""The workloads: what each one means, its input at a size, the database state it starts from,
and the result and state every variant must produce. Variants are verified against these
expectations, computed here from the definitions alone, never from another variant's output.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from implementations.contract import (
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

POSTS_PER_USER = 5
APPENDED_POSTS_PER_USER = 2
#: the ids the connection-pattern workload can read from
CONNECTION_SEED_USERS = 10
#: the concurrent workload: requests per execution, and how they meet. Requests come in
#: blocks of 2 x SAME_USER_DISTANCE, each block for SAME_USER_DISTANCE users, each of them
#: twice: request i and request i + SAME_USER_DISTANCE read and revise the same user
CONCURRENT_REQUESTS = 160
SAME_USER_DISTANCE = 8

_BASE_TIME = datetime(2024, 5, 17, 9, 30, 0, 250000)
_BODY = (
    "Data access costs what it sends: every statement and every round trip to the server is "
    "paid for on each request, whichever library writes the SQL."
)


@dataclass(frozen=True)
class DbState:
    """The rows of both tables, each ordered by id."""

    users: tuple[UserRecord, ...] = ()
    posts: tuple[PostRecord, ...] = ()


@dataclass(frozen=True)
class Case:
    """One workload at one size: everything needed to run and check one execution."""

    seed: DbState
    argument: Any
    expected_result: Any
    expected_state: DbState
    rows: int


#: batch: one unit of work of N rows; connection: one small unit of work, connecting timed;
#: concurrent: many small units of work at once from K workers (the size is K, or the rate)
WorkloadKind = Literal["batch", "connection", "concurrent"]
#: who runs a concurrent workload's K workers: threads of the benchmark's process (the
#: synchronous styles), processes of their own (the synchronous styles, as a pre-fork server
#: runs them), or tasks on one event loop (the asyncio styles)
WorkersKind = Literal["thread", "process", "task"]
#: the variant method a unit of work of each kind of worker calls
WORKER_METHODS: dict[WorkersKind, str] = {
    "thread": "concurrent_requests",
    "process": "concurrent_requests",
    "task": "concurrent_requests_async",
}
#: an open loop's requests per execution: its rate times this (but never fewer than the closed
#: loop's), so that every rate runs about as long and p99 has about as many units behind it
SECONDS_AT_RATE = 1.0


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    kind: WorkloadKind
    #: whether an execution changes the database, so each round must start from a fresh seed
    mutates: bool
    build: Callable[[int], Case]
    #: what the statement count runs, when not one whole execution (a concurrent workload:
    #: one of its units of work)
    build_counted: Callable[[int], Case] | None = None
    #: a concurrent workload's execution of only its first units (for a variant whose every
    #: unit costs so much that all of them would not fit the run)
    build_first: Callable[[int], Case] | None = None
    #: a concurrent workload's kinds of worker, by preference: a variant runs with the first
    #: it supports (``Variant.workers_kinds``), or not at all
    workers_kinds: tuple[WorkersKind, ...] = ()
    #: an open loop: requests arrive on a fixed schedule and the size is their rate (requests a
    #: second), run by a fixed number of workers (``bench.measure.concurrency.workers_at_rate``)
    at_rate: bool = False

    def workers_kind(self, variant: type[Variant]) -> WorkersKind | None:
        """The kind of worker a variant runs this (concurrent) workload with; None when none."""
        return next((kind for kind in self.workers_kinds if kind in variant.workers_kinds), None)

    def method_of(self, variant: type[Variant]) -> str:
        """The variant's method that does this workload's unit of work."""
        kind = self.workers_kind(variant)
        return self.name if kind is None else WORKER_METHODS[kind]

    def implemented_by(self, variant: type[Variant]) -> bool:
        """Whether the variant does this workload (a concurrent one with a kind of worker it
        supports)."""
        if self.kind == "concurrent" and self.workers_kind(variant) is None:
            return False
        return variant.implements(self.method_of(variant))

    def describe(self, variant: type[Variant]) -> str:
        """How the variant does it, in its own words (its method's docstring)."""
        return variant.describe(self.method_of(variant))

    def case(self, size: int, units: int | None = None) -> Case:
        """The case at a size; of a concurrent workload, with only its first ``units`` units
        when a number is given."""
        if units is not None and self.build_first is not None:
            return self.build_first(units)
        return self.build(size)

    def counted_case(self, size: int) -> Case:
        return (self.build_counted or self.build)(size)

    @property
    def reads(self) -> bool:
        """A workload that returns rows it reads (and writes none): its memory per row."""
        return self.kind == "batch" and not self.mutates


def new_user(number: int) -> NewUser:
    return NewUser(
        username=f"user{number:06d}",
        email=f"user{number:06d}@example.com",
        created_at=_BASE_TIME + timedelta(minutes=number),
    )


def new_post(user_number: int, post_number: int) -> NewPost:
    return NewPost(
        title=f"Post {post_number} of user {user_number}",
        body=f"Post {post_number} of user {user_number}. {_BODY}",
        created_at=_BASE_TIME + timedelta(minutes=user_number, seconds=post_number),
    )


def _user_record(user_id: int) -> UserRecord:
    user = new_user(user_id)
    return UserRecord(user_id, user.username, user.email, user.created_at)


def _users(count: int) -> tuple[UserRecord, ...]:
    """Users 1..count, as a fresh table numbers them."""
    return tuple(_user_record(user_id) for user_id in range(1, count + 1))


def _posts_of(user_ids: range, posts_per_user: int, first_post_id: int = 1) -> list[PostRecord]:
    posts: list[PostRecord] = []
    for user_id in user_ids:
        for post_number in range(posts_per_user):
            post = new_post(user_id, post_number)
            posts.append(
                PostRecord(
                    first_post_id + len(posts), user_id, post.title, post.body, post.created_at
                )
            )
    return posts


def _targets(size: int) -> list[int]:
    """The even ids of a table seeded with 2 x size users: size rows, none adjacent."""
    return list(range(2, 2 * size + 1, 2))


def _crud_create(size: int) -> Case:
    users = _users(size)
    return Case(
        seed=DbState(),
        argument=[new_user(n) for n in range(1, size + 1)],
        expected_result=[user.id for user in users],
        expected_state=DbState(users),
        rows=size,
    )


def _crud_read(size: int) -> Case:
    seed = DbState(_users(2 * size))
    targets = _targets(size)
    return Case(
        seed=seed,
        argument=targets,
        expected_result=[_user_record(user_id) for user_id in targets],
        expected_state=seed,
        rows=size,
    )


def _changed_email(user: UserRecord) -> str:
    return user.email.replace("@example.com", "@example.org")


def _crud_update(size: int) -> Case:
    seed = DbState(_users(2 * size))
    targets = set(_targets(size))
    return Case(
        seed=seed,
        argument=[EmailChange(u.id, _changed_email(u)) for u in seed.users if u.id in targets],
        expected_result=None,
        expected_state=DbState(
            tuple(
                replace(user, email=_changed_email(user)) if user.id in targets else user
                for user in seed.users
            )
        ),
        rows=size,
    )


def _crud_delete(size: int) -> Case:
    seed = DbState(_users(2 * size))
    targets = set(_targets(size))
    return Case(
        seed=seed,
        argument=sorted(targets),
        expected_result=None,
        expected_state=DbState(tuple(user for user in seed.users if user.id not in targets)),
        rows=size,
    )


def _parent_child_insert(size: int) -> Case:
    user_numbers = range(1, size + 1)
    return Case(
        seed=DbState(),
        argument=[
            NewUserWithPosts(new_user(n), tuple(new_post(n, p) for p in range(POSTS_PER_USER)))
            for n in user_numbers
        ],
        expected_result=list(user_numbers),
        expected_state=DbState(_users(size), tuple(_posts_of(user_numbers, POSTS_PER_USER))),
        rows=size * (1 + POSTS_PER_USER),
    )


def _parent_child_read(size: int) -> Case:
    seed = DbState(_users(2 * size), tuple(_posts_of(range(1, 2 * size + 1), POSTS_PER_USER)))
    targets = _targets(size)
    posts_by_user: dict[int, list[PostRecord]] = {}
    for post in seed.posts:
        posts_by_user.setdefault(post.user_id, []).append(post)
    return Case(
        seed=seed,
        argument=targets,
        expected_result=[
            UserWithPosts(_user_record(user_id), tuple(posts_by_user[user_id]))
            for user_id in targets
        ],
        expected_state=seed,
        rows=size * (1 + POSTS_PER_USER),
    )


def _parent_child_append(size: int) -> Case:
    user_ids = range(1, size + 1)
    seed = DbState(_users(size), tuple(_posts_of(user_ids, POSTS_PER_USER)))
    appended = [
        NewPostForUser(user_id, new_post(user_id, POSTS_PER_USER + extra))
        for user_id in user_ids
        for extra in range(APPENDED_POSTS_PER_USER)
    ]
    first_new_id = len(seed.posts) + 1
    new_posts = tuple(
        PostRecord(first_new_id + i, p.user_id, p.post.title, p.post.body, p.post.created_at)
        for i, p in enumerate(appended)
    )
    return Case(
        seed=seed,
        argument=appended,
        expected_result=None,
        expected_state=DbState(seed.users, seed.posts + new_posts),
        rows=len(appended),
    )


def _connect_read_one(size: int) -> Case:
    seed = DbState(_users(CONNECTION_SEED_USERS))
    user_id = CONNECTION_SEED_USERS // 2
    return Case(
        seed=seed,
        argument=user_id,
        expected_result=_user_record(user_id),
        expected_state=seed,
        rows=1,
    )


def concurrent_requests(count: int = CONCURRENT_REQUESTS) -> list[UserRequest]:
    """The requests in the order the workers take them: blocks of 2 x SAME_USER_DISTANCE for
    SAME_USER_DISTANCE users each, every user asked for twice, SAME_USER_DISTANCE apart."""
    block = 2 * SAME_USER_DISTANCE
    return [
        UserRequest(SAME_USER_DISTANCE * (index // block) + index % SAME_USER_DISTANCE + 1)
        for index in range(count)
    ]


def _revisions(email: str, count: int) -> list[str]:
    """The email and its next ``count`` revisions."""
    emails = [email]
    for _ in range(count):
        emails.append(revised_email(emails[-1]))
    return emails


def request_record_order(record: UserRecord) -> tuple[int, str]:
    """How the records the requests read are ordered to be compared: by user, then email."""
    return (record.id, record.email)


def _requests_case(requests: list[UserRequest], users: int = CONCURRENT_REQUESTS // 2) -> Case:
    """The requests, every one of them committed exactly once, in any order and interleaving
    that keeps each user's read and write together: each user's email revised once per
    request for it, and the records read holding each revision before the last exactly once.
    A lost update (two requests reading the same revision) or a doubled one changes both."""
    seed = DbState(_users(users))
    asked = Counter(request.user_id for request in requests)
    read: list[UserRecord] = []
    final = []
    for user in seed.users:
        emails = _revisions(user.email, asked[user.id])
        read.extend(replace(user, email=email) for email in emails[:-1])
        final.append(replace(user, email=emails[-1]))
    return Case(
        seed=seed,
        argument=requests,
        expected_result=sorted(read, key=request_record_order),
        expected_state=DbState(tuple(final)),
        rows=len(requests),
    )


def _concurrent_requests(workers: int) -> Case:
    # the same requests at every number of workers: the size says how many threads share them
    return _requests_case(concurrent_requests())


def _first_requests(count: int) -> Case:
    """The first ``count`` requests alone, from the same seed (the count runs the first)."""
    return _requests_case(concurrent_requests()[:count])


def requests_at_rate_count(rate: int) -> int:
    """How many requests an execution at ``rate`` a second runs: :data:`SECONDS_AT_RATE` of
    them, in whole blocks, and at least the closed loop's."""
    block = 2 * SAME_USER_DISTANCE
    wanted = max(CONCURRENT_REQUESTS, math.ceil(rate * SECONDS_AT_RATE))
    return -(-wanted // block) * block


def _requests_at_rate(rate: int) -> Case:
    """The same kind of requests, as many as the rate fills :data:`SECONDS_AT_RATE` with, on a
    seed of as many users as they ask for (each twice)."""
    count = requests_at_rate_count(rate)
    return _requests_case(concurrent_requests(count), users=count // 2)


_CONCURRENT_DESCRIPTION = (
    f"{CONCURRENT_REQUESTS} small requests (read a user by id, write its email revised from "
    "the one read, one commit each)"
)
_SAME_USER = f"each user is asked for twice, {SAME_USER_DISTANCE} requests apart"


WORKLOADS: dict[str, Workload] = {
    workload.name: workload
    for workload in (
        Workload(
            "crud_create",
            "insert N users in one transaction and commit; the new ids are returned",
            "batch",
            True,
            _crud_create,
        ),
        Workload(
            "crud_read",
            "fetch N users by primary key (of 2N in the table) and return their data",
            "batch",
            False,
            _crud_read,
        ),
        Workload(
            "crud_update",
            "change the email of N users (of 2N) by primary key, one commit",
            "batch",
            True,
            _crud_update,
        ),
        Workload(
            "crud_delete",
            "delete N users (of 2N) by primary key, one commit",
            "batch",
            True,
            _crud_delete,
        ),
        Workload(
            "parent_child_insert",
            f"insert N users, each with {POSTS_PER_USER} blog posts that need the user's new "
            "id, one commit",
            "batch",
            True,
            _parent_child_insert,
        ),
        Workload(
            "parent_child_read",
            f"load N users (of 2N) with all their posts ({POSTS_PER_USER} each) as nested data",
            "batch",
            False,
            _parent_child_read,
        ),
        Workload(
            "parent_child_append",
            f"add {APPENDED_POSTS_PER_USER} posts to each of N existing users (who have "
            f"{POSTS_PER_USER} already), one commit",
            "batch",
            True,
            _parent_child_append,
        ),
        Workload(
            "connect_read_one",
            "one small unit of work, read one user by id, with the connection obtained the "
            "way the variant's pattern says: connecting is part of the timed work",
            "connection",
            False,
            _connect_read_one,
        ),
        Workload(
            "concurrent_requests",
            f"{_CONCURRENT_DESCRIPTION} shared by K worker threads of one process; {_SAME_USER}",
            "concurrent",
            True,
            _concurrent_requests,
            build_counted=lambda workers: _first_requests(1),
            build_first=_first_requests,
            workers_kinds=("thread",),
        ),
        Workload(
            "concurrent_processes",
            f"the same {CONCURRENT_REQUESTS} requests shared by K worker processes, each with "
            "its own connection, as a pre-fork server runs them",
            "concurrent",
            True,
            _concurrent_requests,
            build_counted=lambda workers: _first_requests(1),
            build_first=_first_requests,
            workers_kinds=("process",),
        ),
        Workload(
            "concurrent_tasks",
            f"the same {CONCURRENT_REQUESTS} requests shared by K asyncio tasks on one event "
            "loop, with a pool of K connections",
            "concurrent",
            True,
            _concurrent_requests,
            build_counted=lambda workers: _first_requests(1),
            build_first=_first_requests,
            workers_kinds=("task",),
        ),
        Workload(
            "requests_at_rate",
            "the same kind of requests arriving on a fixed schedule, R a second for "
            f"{SECONDS_AT_RATE:g} s (an open loop), served by worker processes (the synchronous "
            "styles) or asyncio tasks; latency counts from each request's scheduled start",
            "concurrent",
            True,
            _requests_at_rate,
            build_counted=lambda rate: _first_requests(1),
            workers_kinds=("process", "task"),
            at_rate=True,
        ),
    )
}
