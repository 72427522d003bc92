"""PostgreSQL databases in ``SQL_ASCII``: text read as UTF-8, undecodable bytes kept for the export to report.

``SQL_ASCII`` stores whatever bytes it was given. On such a connection psycopg 3 returns text columns
as ``bytes`` (which SQLAlchemy's own set-up queries can't take: the connection fails), and a
``client_encoding`` such as UTF8 makes the server refuse the whole result at the first invalid byte,
naming no table, row or column. ``read_sql_ascii_as_utf8`` fixes both for an engine: each new
connection to an ``SQL_ASCII`` database reads its bytes unconverted (client encoding ``SQL_ASCII``, where
the client asked for UTF8 or nothing) and decodes text as UTF-8 with ``surrogateescape``, as the SQLite
reader does, so a bad byte reaches the coercion (``coercion._to_text``) and becomes a bad row naming the
dataset, the column and the row's keys. Good text, non-ASCII included, reads as it would on UTF8; text
is written as UTF-8 (psycopg's default on ``SQL_ASCII``). SQL itself is sent as ASCII there: non-ASCII
text in a query must be written as byte escapes (``E'caf\\xc3\\xa9'``).
"""

from __future__ import annotations

import sqlalchemy as sa
from psycopg.adapt import Loader
from psycopg.pq import Format


class _LenientText(Loader):
    def load(self, data) -> str:
        return str(data, "utf-8", "surrogateescape")


class _LenientTextBinary(_LenientText):
    format = Format.BINARY


# text, varchar, bpchar, name, "char", unknown; and 0, in text format: any type without a loader of its own
# (enums, citext...).
_TEXT_OIDS = (25, 1043, 1042, 19, 18, 705)
_INVALID_OID = 0
# Client encodings under which the server passes SQL_ASCII bytes unchanged (UTF8 after checking them).
_PASS_THROUGH = {"SQL_ASCII", "UTF8", "UNICODE"}


def read_sql_ascii_as_utf8(engine: sa.Engine) -> sa.Engine:
    """Make ``engine``'s psycopg connections to SQL_ASCII databases read text as lenient UTF-8 (see above).

    Other engines, drivers and server encodings are left as they are. Returns ``engine``.
    """
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return engine
    # insert=True: before SQLAlchemy's own first-connect set-up, which reads text (version()).
    sa.event.listen(engine, "connect", _on_connect, insert=True)
    return engine


def _on_connect(dbapi_connection, connection_record) -> None:
    info = dbapi_connection.info
    if info.parameter_status("server_encoding") != "SQL_ASCII":
        return
    client = (info.parameter_status("client_encoding") or "").upper()
    if client not in _PASS_THROUGH:
        return  # e.g. LATIN1: the client asked for the bytes to be read in that encoding
    if client != "SQL_ASCII":
        # Committed, so SQLAlchemy's rollbacks keep it; the connection has done nothing else yet.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.execute("SET client_encoding TO 'SQL_ASCII'")
        if not autocommit:
            dbapi_connection.commit()
    adapters = dbapi_connection.adapters
    for oid in _TEXT_OIDS:
        adapters.register_loader(oid, _LenientText)
        adapters.register_loader(oid, _LenientTextBinary)
    adapters.register_loader(_INVALID_OID, _LenientText)  # binary 0 stays bytea's
