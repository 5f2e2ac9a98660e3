"""The one way to a backend's server, for the command line and the pytest fixtures alike: the
URL the user gave (``--NAME-url``, else ``BENCH_NAME_URL``, resolved here), else the first of
the backend's providers that can start one; and the ``--NAME-url`` options, declared once and
added both by the command line's parser and by the pytest plugin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bench.backends import BackendType, backend_types
from bench.backends.servers import Note, Server, ServerError, ServerUnavailable

#: the metavar of a ``--NAME-url`` option on the command line
URL_METAVAR = "URL"


@dataclass(frozen=True)
class UrlOption:
    """A server backend's ``--NAME-url`` option."""

    #: the option, e.g. ``--postgres-url``
    flag: str
    #: where its value is kept, e.g. ``postgres_url``
    dest: str
    #: the environment variable it defaults to, e.g. ``BENCH_POSTGRES_URL``
    env: str
    #: the backend's title, e.g. ``PostgreSQL``
    title: str

    @property
    def help(self) -> str:
        """Its help on the command line."""
        return f"use this {self.title} server (default: ${self.env})"

    @property
    def pytest_help(self) -> str:
        """Its help among pytest's options, where a server is provisioned on first use."""
        return f"{self.title} server to use (default: ${self.env}; else one is provisioned)"


def url_options() -> list[UrlOption]:
    """The ``--NAME-url`` option of every backend that needs a server, in the registry's order."""
    return [
        UrlOption(kind.url_option, f"{kind.name}_url", kind.url_env, kind.title)
        for kind in backend_types()
        if kind.url_option and kind.url_env
    ]


class GivenUrlError(ServerError):
    """The URL the user gave does not work; ``source`` says where it came from (the option or
    the environment variable), for a message that names it."""

    def __init__(self, error: ServerError, source: str) -> None:
        super().__init__(str(error))
        self.source = source


def given_url(kind: BackendType, option_value: str | None) -> tuple[str | None, str]:
    """The server URL the user gave for a backend (the option's value, else its environment
    variable), and where it came from; (None, "") when none was given."""
    if option_value:
        return option_value, kind.url_option or ""
    if kind.url_env and os.environ.get(kind.url_env):
        return os.environ[kind.url_env], kind.url_env
    return None, ""


@contextmanager
def provide(kind: BackendType, option_value: str | None, note: Note) -> Iterator[Server]:
    """The backend's server: the URL given, else one its providers start, stopped and removed
    when the context exits. Raises ServerUnavailable when none can be had, GivenUrlError when
    the URL given does not work, and ServerError when a server started does not."""
    url, source = given_url(kind, option_value)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(kind.provide(url, note=note))
        except ServerUnavailable:
            raise
        except ServerError as exc:
            if not source:
                raise
            raise GivenUrlError(exc, source) from None
        yield server
