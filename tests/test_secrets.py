"""No password is ever shown: not the user part's, not one in the query, not part of one that
holds an unencoded ``@`` (issue 23, item 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url

from bench.backends.mariadb.backend import parse_mariadb_url
from bench.backends.postgres.backend import parse_postgres_url
from bench.backends.servers import Server, ServerError, mask

from helpers import bench, free_port, one_error_line

#: a password with unencoded ``@`` and ``:``, which make_url splits at its first ``@``
UNENCODED_AT_URL = "postgresql://user:Sec:ret@word@127.0.0.1:5432/db"


def leaked_fragments(text: str) -> list[str]:
    """The parts of UNENCODED_AT_URL's user part found in ``text`` (``word`` only outside the
    word "password", which a message may well say)."""
    fragments = [fragment for fragment in ("user", "Sec", "ret") if fragment in text]
    if "word" in text.replace("password", ""):
        fragments.append("word")
    return fragments


# --- mask() ------------------------------------------------------------------------------------


def test_the_user_part_password_is_hidden() -> None:
    url = make_url("postgresql+psycopg://bench:hunter2@db.example:6432/app")
    assert mask(url) == "postgresql+psycopg://bench:***@db.example:6432/app"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (
            "postgresql://bench@h/app?sslpassword=topsecret&sslmode=prefer",
            "postgresql://bench@h/app?sslmode=prefer&sslpassword=***",
        ),
        (
            "mariadb+pymysql://bench:pw@h/app?passwd=topsecret&charset=utf8mb4",
            "mariadb+pymysql://bench:***@h/app?charset=utf8mb4&passwd=***",
        ),
        (
            "postgresql://h/app?user=bench&password=topsecret",
            "postgresql://h/app?password=***&user=bench",
        ),
    ],
    ids=["sslpassword", "passwd", "password"],
)
def test_a_password_in_the_query_is_hidden(raw: str, masked: str) -> None:
    assert mask(make_url(raw)) == masked


@pytest.mark.parametrize(
    "name", ["PASSWORD", "SslPassword", "Passwd", "PassFile", "PWD", "client_secret", "Api_Token"]
)
def test_any_parameter_named_as_a_secret_is_hidden_whatever_its_case(name: str) -> None:
    masked = mask(make_url(f"postgresql://h/app?{name}=topsecret&application_name=kept"))
    assert f"{name}=***" in masked and "application_name=kept" in masked
    assert "topsecret" not in masked


def test_every_value_of_a_repeated_secret_parameter_is_hidden() -> None:
    masked = mask(make_url("postgresql://h/app?sslpassword=first&sslpassword=second"))
    assert masked == "postgresql://h/app?sslpassword=***&sslpassword=***"


def test_other_parameters_are_shown_as_sqlalchemy_renders_them() -> None:
    url = make_url("postgresql://u@h/app?options=-c%20search_path%3Dx&sslmode=require")
    assert mask(url) == url.render_as_string(hide_password=True)


def test_a_password_with_an_unencoded_at_is_hidden_up_to_the_last_at() -> None:
    url = make_url(UNENCODED_AT_URL)
    assert url.host == "word@127.0.0.1"  # what make_url makes of it, and why it leaks
    masked = mask(url)
    assert masked == "postgresql://***@127.0.0.1:5432/db"
    assert leaked_fragments(masked) == []


# --- parsing a user's URL ----------------------------------------------------------------------

PARSERS: list[Callable[[str], URL]] = [parse_postgres_url, parse_mariadb_url]


@pytest.mark.parametrize("parse", PARSERS, ids=["postgres", "mariadb"])
@pytest.mark.parametrize(
    "raw",
    [
        UNENCODED_AT_URL,
        UNENCODED_AT_URL.replace("postgresql", "mariadb"),
        # where the password's @ leaves an unreadable port
        "postgresql://user:Sec@ret:word@127.0.0.1:5432/db",
    ],
    ids=["host-takes-the-rest", "mariadb-scheme", "port-unreadable"],
)
def test_an_unencoded_at_is_refused_without_echoing_the_user_part(
    parse: Callable[[str], URL], raw: str
) -> None:
    with pytest.raises(ServerError) as refused:
        parse(raw)
    message = str(refused.value)
    assert "unencoded @" in message and "%40" in message
    assert "\n" not in message
    assert leaked_fragments(message) == []


def test_an_encoded_at_is_accepted() -> None:
    url = parse_postgres_url("postgresql://user:Sec%3Aret%40word@127.0.0.1:5432/db")
    assert (url.password, url.host) == ("Sec:ret@word", "127.0.0.1")


def test_a_user_name_with_an_at_is_accepted() -> None:
    url = parse_postgres_url("postgresql://bench@example:pw@127.0.0.1/db")
    assert (url.username, url.host) == ("bench@example", "127.0.0.1")


def test_the_command_line_refuses_an_unencoded_at_in_one_line(tmp_path: Path) -> None:
    result = bench(
        "statements",
        "--workload",
        "crud_read",
        "--backend",
        "postgres",
        "--postgres-url",
        UNENCODED_AT_URL,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("bench: error: --postgres-url: the URL's password holds an unencoded @")
    assert leaked_fragments(result.stdout + result.stderr) == []


def test_an_unreachable_url_hides_its_query_secret(tmp_path: Path) -> None:
    url = f"postgresql://bench@127.0.0.1:{free_port()}/app?sslpassword=topsecret"
    result = bench("run", "--backend", "postgres", "--postgres-url", url, cwd=tmp_path)
    assert result.returncode == 2
    assert "sslpassword=***" in one_error_line(result)
    assert "topsecret" not in result.stdout + result.stderr


# --- end to end, on real servers -------------------------------------------------------------


@pytest.mark.postgres
def test_an_sslpassword_is_never_shown(postgres_server: Server, tmp_path: Path) -> None:
    # the throwaway server speaks no TLS: libpq's default sslmode (prefer) connects without,
    # so the URL is used for the whole command
    url = postgres_server.address.update_query_dict({"sslpassword": "topsecret"})
    result = bench(
        "statements",
        "--workload",
        "crud_read",
        "--backend",
        "postgres",
        "--postgres-url",
        url.render_as_string(hide_password=False),
        "--size",
        "1",
        "--variant",
        "dbapi",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "sslpassword=***" in result.stderr  # the start line names the server, masked
    assert "topsecret" not in result.stdout + result.stderr
    assert str(postgres_server.address.password) not in result.stdout + result.stderr


@pytest.mark.mariadb
@pytest.mark.parametrize("given", ["right", "wrong"])
def test_a_passwd_parameter_is_never_shown(
    mariadb_server: Server, tmp_path: Path, given: str
) -> None:
    # with no password in the user part, PyMySQL logs in with ``passwd``: the right one works,
    # a wrong one is refused in one line, and neither is shown
    server = mariadb_server.address
    password = str(server.password) if given == "right" else "wrong-topsecret"
    url = URL.create(
        server.drivername,
        username=server.username,
        host=server.host,
        port=server.port,
        database=server.database,
        query={"passwd": password},
    )
    result = bench(
        "statements",
        "--workload",
        "crud_read",
        "--backend",
        "mariadb",
        "--mariadb-url",
        url.render_as_string(hide_password=False),
        "--size",
        "1",
        "--variant",
        "dbapi",
        cwd=tmp_path,
    )
    if given == "right":
        assert result.returncode == 0, result.stderr
        assert "passwd=***" in result.stderr  # the start line names the server, masked
    else:
        assert result.returncode == 2
        line = one_error_line(result)
        assert "Access denied" in line and "passwd=***" in line
    assert password not in result.stdout + result.stderr
