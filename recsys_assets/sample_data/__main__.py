"""CLI: ``python -m recsys_assets.sample_data --database-url URL`` fills an app database."""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa

from recsys_assets.sample_data.generator import generate


def summary(database_url: str, counts: dict, seconds: float) -> str:
    where = sa.engine.make_url(database_url).render_as_string(hide_password=True)
    return (
        f"Wrote {counts['users']:,} users, {counts['items']:,} items and "
        f"{counts['events']:,} events to {where} in {seconds:.1f}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_assets.sample_data",
        description="Drop, re-create and fill the users, items and events tables with "
        "deterministic demo-shop data (the tables mappings/demo.toml reads). Other tables are left alone.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        required=True,
        default=argparse.SUPPRESS,  # required: no default to show
        help="SQLAlchemy URL, e.g. sqlite:///data/app.db or postgresql+psycopg://user@host/db",
    )
    parser.add_argument("--users", type=int, default=5000, help="number of users")
    parser.add_argument("--items", type=int, default=2000, help="number of items")
    parser.add_argument("--interactions", type=int, default=200_000, help="number of events")
    parser.add_argument("--seed", type=int, default=42, help="the same seed gives the same data")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        counts = generate(
            args.database_url,
            users=args.users,
            items=args.items,
            interactions=args.interactions,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(summary(args.database_url, counts, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
