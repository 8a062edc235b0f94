"""The test PostgreSQL (``FUSION_TEST_POSTGRES_URL``, which ``.ci/run`` starts) and fresh databases on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .conftest import service_missing


def require_postgres() -> str:
    """``FUSION_TEST_POSTGRES_URL`` once a connection to it works; else a skip, or a failure under CI."""
    url = os.environ.get("FUSION_TEST_POSTGRES_URL", "").strip()
    start = 'start PostgreSQL with `eval "$(scripts/start-postgres.sh)"` (.ci/run does)'
    if not url:
        service_missing(f"FUSION_TEST_POSTGRES_URL is not set; {start}")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        service_missing(f"PostgreSQL at FUSION_TEST_POSTGRES_URL={url} does not answer ({exc}); {start}")
    return url


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on ``url``'s server (its URL), dropped afterwards with its sessions."""
    name = f"fusion_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
