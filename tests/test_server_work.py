"""The server's own account of one counted execution (rows read and written, buffer blocks,
log bytes): the figures that hold by definition of the workloads, on real servers, and a
planted variant that shows they come from the server, not from the workload's definition."""

from __future__ import annotations

import pytest

from bench.backends import Backend, backend_types
from bench.measure.cells import Cell, Harness
from bench.measure.counting import ServerWork
from bench.measure.workloads import POSTS_PER_USER, WORKLOADS, Case, DbState
from implementations.registry import VARIANTS

STYLES = ["orm", "orm_bulk", "core", "dbapi"]
SIZES = [1, 10]


#: the backends that keep an account of the work (the others are tested to have no figures)
SERVER_PARAMS = [
    pytest.param(kind.name, marks=getattr(pytest.mark, kind.name))
    for kind in backend_types()
    if kind.counts_server_work
]


@pytest.fixture(params=SERVER_PARAMS)
def server_harness(request: pytest.FixtureRequest) -> Harness:
    """The harness of each backend that keeps an account of the work."""
    harness: Harness = request.getfixturevalue(f"{request.param}_harness")
    return harness


def server_work(harness: Harness, workload: str, variant: str, size: int) -> ServerWork:
    """Verified first, by the timed instance, so that its work, published late by the server,
    would land in the count if the reading were not exact."""
    cell = Cell(workload, variant, harness.backend.name, size)
    case = WORKLOADS[workload].case(size)
    harness.verify(cell, case)
    observation = harness.count(cell, case)
    assert observation.server_work is not None
    return observation.server_work


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", STYLES)
def test_creating_n_users_writes_n_rows(server_harness: Harness, variant: str, size: int) -> None:
    work = server_work(server_harness, "crud_create", variant, size)
    assert work.rows_written == size


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", STYLES)
def test_inserting_n_users_with_their_posts_writes_6n_rows(
    server_harness: Harness, variant: str, size: int
) -> None:
    work = server_work(server_harness, "parent_child_insert", variant, size)
    assert work.rows_written == size * (1 + POSTS_PER_USER)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", STYLES)
def test_deleting_n_users_writes_n_rows(server_harness: Harness, variant: str, size: int) -> None:
    # the crud_delete seed has users only: nothing cascades
    work = server_work(server_harness, "crud_delete", variant, size)
    assert work.rows_written == size


def _delete_with_posts(size: int) -> Case:
    """crud_delete from a seed whose users have posts: the database cascades to them."""
    plain = WORKLOADS["crud_delete"].case(size)
    seed_posts = WORKLOADS["parent_child_read"].case(size).seed.posts
    deleted = set(plain.argument)
    return Case(
        seed=DbState(plain.seed.users, seed_posts),
        argument=plain.argument,
        expected_result=plain.expected_result,
        expected_state=DbState(
            plain.expected_state.users,
            tuple(post for post in seed_posts if post.user_id not in deleted),
        ),
        rows=plain.rows,
    )


@pytest.mark.postgres
@pytest.mark.parametrize("variant", STYLES)
def test_a_cascading_delete_writes_the_posts_too_on_postgres(
    postgres_harness: Harness, variant: str
) -> None:
    size = 4
    observation = postgres_harness.count(
        Cell("crud_delete", variant, "postgres", size), _delete_with_posts(size)
    )
    assert observation.server_work is not None
    # n_tup_del of both tables: the users, and the posts the foreign key's cascade removed
    assert observation.server_work.rows_written == size * (1 + POSTS_PER_USER)


@pytest.mark.mariadb
def test_a_cascading_delete_counts_only_the_users_on_mariadb(mariadb_harness: Harness) -> None:
    size = 4
    observation = mariadb_harness.count(
        Cell("crud_delete", "dbapi", "mariadb", size), _delete_with_posts(size)
    )
    assert observation.server_work is not None
    # InnoDB runs ON DELETE CASCADE inside the engine, below the Handler_delete counter (and
    # MariaDB 10.11 has no Innodb_rows_deleted): docs/measures.md says so
    assert observation.server_work.rows_written == size


@pytest.mark.parametrize("size", SIZES)
def test_a_style_reading_a_table_it_does_not_need_reads_more_rows(
    server_harness: Harness, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setitem(VARIANTS, "reads_every_post", "broken_variants:ReadsEveryPost")
    plain = server_work(server_harness, "parent_child_append", "dbapi", size)
    planted = server_work(server_harness, "parent_child_append", "reads_every_post", size)
    # the workload and its result are the same, and so are the rows written; the server also
    # read the title of each of the seed's posts
    assert planted.rows_written == plain.rows_written == size * 2
    assert plain.rows_read is not None
    assert planted.rows_read == plain.rows_read + size * POSTS_PER_USER


@pytest.mark.parametrize("variant", ["orm", "dbapi"])
def test_reads_write_no_rows_and_no_log(server_harness: Harness, variant: str) -> None:
    work = server_work(server_harness, "parent_child_read", variant, 3)
    assert (work.rows_written, work.wal_bytes) == (0, 0)
    assert work.rows_read is not None and work.rows_read >= 3 * (1 + POSTS_PER_USER)
    assert work.blocks is not None and work.blocks > 0


def test_without_an_account_of_the_work_there_are_no_server_figures(
    harness: Harness, backend: Backend
) -> None:
    cell = Cell("crud_create", "dbapi", backend.name, 2)
    observation = harness.count(cell, WORKLOADS["crud_create"].case(2))
    measures = observation.measures()
    keys = {"server_rows_read", "server_rows_written", "server_blocks", "wal_bytes"}
    if backend.type.counts_server_work:
        assert keys <= set(measures)
        assert measures["server_rows_written"] == 2
    else:
        assert observation.server_work is None
        assert not keys & set(measures)
        assert backend.type.server_work_notes[0].startswith("n/a")
