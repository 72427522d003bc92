"""Deployment settings read from the environment, in one place.

Everything a user switches (backend, database, bucket, schedule) is an environment variable, so
`dagster dev`, the daily schedule and `make demo` all see the same configuration. Secrets (AWS keys,
database passwords) stay in the environment and are never copied into metadata or logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from recsys_assets.mapping import DEFAULT_MAPPING_FILE, mapping_path

BACKENDS = ("local", "aws")
# Never billed, never sent anywhere: the local engine only checks that it is well formed.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/recsys-local-engine"


@dataclass(frozen=True)
class Settings:
    backend: str = "local"
    local_root: str = ".recsys"
    database_url: str = ""
    mapping_file: str = str(DEFAULT_MAPPING_FILE)
    bucket: str = "recsys-local"
    prefix: str = "recsys"
    region: str = "us-east-1"
    role_arn: str = LOCAL_ROLE_ARN
    deployment: str = "recsys"
    schedule_cron: str = "0 3 * * *"
    schedule_timezone: str = "UTC"
    # Cost and quality rails (see recsys_assets/workflow/cost.py for the price sources).
    price_per_gb_ingested: float = 0.05
    price_per_training_hour: float = 0.24
    price_per_1000_recommendations: float = 0.086
    budget_usd_per_run: float | None = None
    expected_training_hours: float = 1.0
    max_training_hours: float = 12.0
    quality_minimums: tuple[tuple[str, float], ...] = ()
    quality_max_drop: float = 0.2
    orphan_max_age_hours: float = 24.0
    sweep_cron: str = "17 * * * *"

    @property
    def demo_database_url(self) -> str:
        return f"sqlite:///{Path(self.local_root, 'demo.db').resolve()}"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    backend = env.get("RECSYS_BACKEND", "local").strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"RECSYS_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    defaults = Settings()
    local_root = env.get("RECSYS_LOCAL_ROOT") or defaults.local_root
    if backend == "aws":
        missing = [k for k in ("RECSYS_S3_BUCKET", "RECSYS_PERSONALIZE_ROLE_ARN") if not env.get(k)]
        if missing:
            raise ValueError(f"RECSYS_BACKEND=aws needs {' and '.join(missing)} to be set")
    settings = Settings(
        backend=backend,
        local_root=local_root,
        database_url=env.get("RECSYS_DATABASE_URL", ""),
        mapping_file=str(mapping_path(env)),
        bucket=env.get("RECSYS_S3_BUCKET") or defaults.bucket,
        prefix=env.get("RECSYS_S3_PREFIX") or defaults.prefix,
        region=env.get("RECSYS_AWS_REGION") or env.get("AWS_REGION") or defaults.region,
        role_arn=env.get("RECSYS_PERSONALIZE_ROLE_ARN") or defaults.role_arn,
        deployment=env.get("RECSYS_DEPLOYMENT") or defaults.deployment,
        schedule_cron=env.get("RECSYS_SCHEDULE_CRON") or defaults.schedule_cron,
        schedule_timezone=env.get("RECSYS_SCHEDULE_TIMEZONE") or defaults.schedule_timezone,
    )
    settings = replace(settings, **_guardrails(env))
    if not settings.database_url:
        settings = replace(settings, database_url=settings.demo_database_url)
    return settings


_FLOATS = {
    "price_per_gb_ingested": "RECSYS_PRICE_PER_GB_INGESTED",
    "price_per_training_hour": "RECSYS_PRICE_PER_TRAINING_HOUR",
    "price_per_1000_recommendations": "RECSYS_PRICE_PER_1000_RECOMMENDATIONS",
    "budget_usd_per_run": "RECSYS_BUDGET_USD_PER_RUN",
    "expected_training_hours": "RECSYS_EXPECTED_TRAINING_HOURS",
    "max_training_hours": "RECSYS_MAX_TRAINING_HOURS",
    "quality_max_drop": "RECSYS_QUALITY_MAX_DROP",
    "orphan_max_age_hours": "RECSYS_ORPHAN_MAX_AGE_HOURS",
}


def _guardrails(env) -> dict:
    out: dict = {}
    for field, var in _FLOATS.items():
        if env.get(var):
            try:
                out[field] = float(env[var])
            except ValueError:
                raise ValueError(f"{var} must be a number, not {env[var]!r}") from None
    if env.get("RECSYS_QUALITY_MINIMUMS"):
        # "normalized_discounted_cumulative_gain_at_10=0.05,precision_at_10=0.01"
        pairs = []
        for item in env["RECSYS_QUALITY_MINIMUMS"].split(","):
            metric, sep, value = item.partition("=")
            try:
                pairs.append((metric.strip(), float(value)))
            except ValueError:
                sep = ""
            if not sep or not metric.strip():
                raise ValueError(f"RECSYS_QUALITY_MINIMUMS: expected metric=number, not {item!r}")
        out["quality_minimums"] = tuple(pairs)
    if env.get("RECSYS_SWEEP_CRON"):
        out["sweep_cron"] = env["RECSYS_SWEEP_CRON"]
    return out
