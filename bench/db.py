"""Export and write-back at production scale, each against its database's raw bulk path in the same run.

    .venv/bin/python -m bench.db            # or: make bench-db

1. Export: N interactions (default 10,000,000) generated in a scratch PostgreSQL database; the real
   export (``export_csv`` with the demo mapping, into a LocalObjectStore) runs in a subprocess whose
   peak RSS is read from ``ru_maxrss``; the baseline is a raw ``COPY (<the mapping's events SELECT>)
   TO STDOUT`` of the same rows. Both run ``--repeat`` times, alternating; the fastest of each counts.
2. Write-back: U users x K recommendations (default 100,000 x 50) through ``replace_table`` (staging
   table, bulk load, index, atomic swap) against a raw bulk load of the same rows into a table of the
   same definition: ``COPY FROM`` on PostgreSQL, ``LOAD DATA LOCAL INFILE`` on MariaDB, one
   ``executemany`` on SQLite.

Scratch databases, tables and files are removed afterwards, also after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from recsys_assets.app_database import copy_out, recommendations_table, replace_table
from recsys_assets.export.mapping import load_mapping

PG_ADMIN = "postgresql+psycopg://root@127.0.0.1:5432/test"
MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
ARN = "arn:aws:personalize:us-east-1:000000000000:solution/recsys-bench/0123abcd"
GENERATED_AT = datetime(2026, 11, 29, 3, 0, 0)
# The demo mapping's events SELECT: what a user would COPY out by hand.
ROOT = Path(__file__).resolve().parent.parent
RAW_EXPORT_QUERY = "SELECT user_id, item_id, created_at, event_type, event_value FROM events"


@contextlib.contextmanager
def scratch_database(admin_url: str):
    """A new database on the server behind ``admin_url``, dropped on exit."""
    name = f"recsys_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(admin_url).set(database=name)
    finally:
        force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def generate_shop(libpq_url: str, users: int, items: int, events: int) -> None:
    """The demo shop's tables, filled by the server itself; 0.1% of events are of unknown users, 0.1% repeat."""
    import psycopg

    with psycopg.connect(libpq_url, autocommit=True) as conn:
        for sql in (
            "CREATE TABLE users (user_id integer PRIMARY KEY, age integer, os_device varchar(16),"
            " signup_at timestamp NOT NULL)",
            "CREATE TABLE items (item_id integer PRIMARY KEY, name varchar(200) NOT NULL, category_id integer"
            " NOT NULL, price numeric(10, 2) NOT NULL)",
            "CREATE TABLE events (event_id bigint PRIMARY KEY, user_id integer NOT NULL, item_id integer NOT NULL,"
            " event_type varchar(16) NOT NULL, event_value double precision, created_at timestamp NOT NULL)",
            f"INSERT INTO users SELECT g, 18 + g % 60, (ARRAY['ios','android','web'])[1 + g % 3],"
            f" timestamp '2025-01-01' + g * interval '1 second' FROM generate_series(1, {users}) g",
            f"INSERT INTO items SELECT g, 'item ' || g, 1 + g % 30, (g % 10000) / 100.0 + 1"
            f" FROM generate_series(1, {items}) g",
            # A repeated event copies its predecessor (g - 1) exactly, except for its id.
            f"INSERT INTO events SELECT g, CASE WHEN g % 1000 = 7 THEN {users} + 1 + g % 100"
            f" ELSE 1 + (k * 7919) % {users} END, 1 + (k * 104729) % {items},"
            f" (ARRAY['view','click','like','purchase'])[1 + k % 4], CASE WHEN k % 4 = 3 THEN (k % 10000) / 100.0 END,"
            f" timestamp '2026-08-01' + (k / 4) * interval '1 second'"
            f" FROM (SELECT g, CASE WHEN g % 1000 = 500 THEN g - 1 ELSE g END::bigint AS k"
            f" FROM generate_series(1, {events}) g) s",
            "VACUUM ANALYZE",
        ):
            conn.execute(sql)


def raw_copy_out(db: sa.Engine, query: str) -> float:
    """A raw ``COPY (query) TO STDOUT``, read as the export reads it and thrown away."""
    started = time.perf_counter()
    for _ in copy_out(db, query):
        pass
    return time.perf_counter() - started


def export_child(url: str, out: str, check: str) -> None:
    """Run in a subprocess: the real export of interactions (then, if asked, its read-back check); prints JSON."""
    from recsys_assets.export.csv_export import export_csv, load_schema
    from recsys_assets.export.readback import check_csv
    from recsys_assets.storage import LocalObjectStore

    db = sa.create_engine(url)
    spec = load_mapping().datasets["interactions"]
    schema = load_schema(spec)[1]
    store, uri = LocalObjectStore(out), "s3://bench/interactions.csv"
    started = time.perf_counter()
    result = export_csv(db, spec, schema, store, uri)
    figures = {"seconds": time.perf_counter() - started, "rows": result.rows, "unknown": result.unknown,
               "duplicates": result.duplicates, "bad": result.bad.count, "path": result.path,
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "bytes": store.size(uri)}
    if check == "check":
        started = time.perf_counter()
        figures["check_valid"] = check_csv(store, uri, spec, schema).error is None
        figures["check_seconds"] = time.perf_counter() - started
        figures["check_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def bench_export(args) -> dict:
    with scratch_database(args.postgres) as url:
        libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        generate_shop(libpq_url, args.users, args.items, args.events)
        print(f"  generated {args.events:,} events in PostgreSQL in {time.perf_counter() - started:.0f} s")
        db = sa.create_engine(url)
        raw, raw_export, ours = [], [], []
        with tempfile.TemporaryDirectory(prefix="recsys-bench-") as out:
            for attempt in range(args.repeat):
                raw.append(raw_copy_out(db, RAW_EXPORT_QUERY))
                raw_export.append(raw_copy_out(db, load_mapping().datasets["interactions"].export_sql()))
                child = subprocess.run([sys.executable, "-m", "bench.db", "export-child",
                                        url.render_as_string(hide_password=False), out,
                                        "check" if attempt == 0 else "no-check"],
                                       check=True, capture_output=True, text=True, cwd=ROOT)
                ours.append(json.loads(child.stdout))
                print(f"  run {attempt + 1}: raw COPY {raw[-1]:.1f} s, raw COPY of the export's SELECT "
                      f"{raw_export[-1]:.1f} s, export {ours[-1]['seconds']:.1f} s")
        db.dispose()
    best = min(ours, key=lambda r: r["seconds"])
    figures = {"events": args.events, "raw_seconds": min(raw), "raw_export_seconds": min(raw_export),
               "seconds": best["seconds"], "peak_rss_mb": max(r["rss_mb"] for r in ours),
               "ratio": min(raw_export) / best["seconds"], "ratio_plain": min(raw) / best["seconds"]}
    print(f"export: {best['rows']:,} rows written ({best['unknown']:,} of unknown users or items and "
          f"{best['duplicates']:,} duplicates left out; {best['path']} path), {best['bytes'] / 1e6:.0f} MB")
    print(f"  raw COPY of the mapped SELECT            {min(raw):6.1f} s {args.events / min(raw):11,.0f} rows/s")
    print(f"  raw COPY of the export's SELECT          {min(raw_export):6.1f} s "
          f"{args.events / min(raw_export):11,.0f} rows/s  (+ known users/items)")
    print(f"  export_csv (coerce, check, dedupe, write) {best['seconds']:5.1f} s "
          f"{args.events / best['seconds']:11,.0f} rows/s")
    print(f"  throughput ratio vs the export's SELECT: {figures['ratio']:.2f} (bar >= 0.5); "
          f"vs the mapped SELECT alone: {figures['ratio_plain']:.2f}")
    first = ours[0]
    print(f"  peak RSS of the export process: {figures['peak_rss_mb']:.0f} MB (bar < 500); after the read-back "
          f"check ({first['check_seconds']:.0f} s, valid: {first['check_valid']}): {first['check_rss_mb']:.0f} MB")
    return figures


def recommendation_rows(users: int, per_user: int):
    for u in range(users):
        user = f"user-{u}"
        for rank in range(1, per_user + 1):
            yield user, rank, f"item-{(u * 31 + rank) % 50_000}", 1.0 / rank, GENERATED_AT, ARN


def write_rows_file(path: Path, users: int, per_user: int, sep: str) -> None:
    """The same rows as text for the raw bulk loads (tab: PostgreSQL COPY, LOAD DATA)."""
    with open(path, "w") as f:
        for row in recommendation_rows(users, per_user):
            f.write(sep.join(str(v) for v in row) + "\n")


def raw_table(db: sa.Engine, name: str, indexed: bool) -> sa.Table:
    table = recommendations_table(name, sa.MetaData())
    if indexed:
        sa.Index(f"ix_{name}_user", table.c.user_id)  # the lookup index replace_table builds
    with db.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
    return table


def timed_replace(db: sa.Engine, args) -> float:
    started = time.perf_counter()
    written = replace_table(db, "bench_recs", recommendation_rows(args.recs_users, args.per_user))
    seconds = time.perf_counter() - started
    assert written == args.recs_users * args.per_user
    return seconds


def bench_writeback_postgres(args, rows_file: Path) -> dict:
    import psycopg

    with scratch_database(args.postgres) as url:
        db = sa.create_engine(url)
        libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        raws = {}
        for indexed in (False, True):
            raw_table(db, "raw_recs", indexed)
            started = time.perf_counter()
            with psycopg.connect(libpq_url) as conn, conn.cursor() as cur, \
                    cur.copy("COPY raw_recs FROM STDIN") as copy, open(rows_file, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
            raws[indexed] = time.perf_counter() - started
        ours = timed_replace(db, args)
        db.dispose()
    return {"ours": ours, "raw": raws[True], "raw_unindexed": raws[False]}


def bench_writeback_mariadb(args, rows_file: Path) -> dict:
    with scratch_database(args.mariadb) as url:
        db = sa.create_engine(url.update_query_dict({"local_infile": "1"}))
        raw_table(db, "raw_recs", True)
        started = time.perf_counter()
        with db.begin() as conn:
            conn.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{rows_file}' INTO TABLE raw_recs")
        raw = time.perf_counter() - started
        ours = timed_replace(db, args)
        db.dispose()
    return {"ours": ours, "raw": raw}


def bench_writeback_sqlite(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        db = sa.create_engine(f"sqlite:///{tmp}/bench.db")
        table = raw_table(db, "raw_recs", True)
        rows = [tuple(str(v) if isinstance(v, datetime) else v for v in r)
                for r in recommendation_rows(args.recs_users, args.per_user)]
        started = time.perf_counter()
        with db.begin() as conn:
            conn.connection.driver_connection.executemany(
                f"INSERT INTO {table.name} VALUES ({', '.join('?' * len(table.columns))})", rows)
        raw = time.perf_counter() - started
        del rows
        ours = timed_replace(db, args)
        db.dispose()
    return {"ours": ours, "raw": raw}


def report_writeback(label: str, figures: dict, rows: int, baseline: str, bar: float | None = None) -> None:
    ratio = figures["raw"] / figures["ours"]
    print(f"  {label:<10} replace_table {figures['ours']:6.1f} s {rows / figures['ours']:10,.0f} rows/s | "
          f"{baseline} {figures['raw']:6.1f} s | ratio {ratio:.2f}" + (f" (bar >= {bar})" if bar else ""))
    figures["ratio"] = ratio


def bench_writeback(args) -> dict:
    rows = args.recs_users * args.per_user
    print(f"write-back: {args.recs_users:,} users x {args.per_user} = {rows:,} rows")
    results = {}
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        rows_file = Path(tmp) / "recs.tsv"
        write_rows_file(rows_file, args.recs_users, args.per_user, "\t")
        results["postgresql"] = bench_writeback_postgres(args, rows_file)
        report_writeback("PostgreSQL", results["postgresql"], rows, "raw COPY FROM (indexed table)", 0.7)
        print(f"  {'':<10} (raw COPY FROM into the table without its index: "
              f"{results['postgresql']['raw_unindexed']:.1f} s, "
              f"ratio {results['postgresql']['raw_unindexed'] / results['postgresql']['ours']:.2f})")
        if not args.skip_mariadb:
            results["mariadb"] = bench_writeback_mariadb(args, rows_file)
            report_writeback("MariaDB", results["mariadb"], rows, "raw LOAD DATA LOCAL")
    if not args.skip_sqlite:
        results["sqlite"] = bench_writeback_sqlite(args)
        report_writeback("SQLite", results["sqlite"], rows, "raw executemany")
    return results


def main(argv: list[str]) -> int:
    if argv[:1] == ["export-child"]:
        export_child(*argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--recs-users", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2, help="export runs of each kind (the fastest counts)")
    parser.add_argument("--postgres", default=os.environ.get("RECSYS_BENCH_POSTGRES", PG_ADMIN))
    parser.add_argument("--mariadb", default=os.environ.get("RECSYS_BENCH_MARIADB", MARIADB_ADMIN))
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-writeback", action="store_true")
    parser.add_argument("--skip-mariadb", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    ok = True
    if not args.skip_export:
        export = bench_export(args)
        ok &= export["ratio"] >= 0.5 and export["peak_rss_mb"] < 500
    if not args.skip_writeback:
        ok &= bench_writeback(args)["postgresql"]["ratio"] >= 0.7
    print("bars met" if ok else "BARS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
