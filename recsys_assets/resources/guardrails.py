"""Cost and quality rails every run is held to: prices, budget, training cap, quality gate, orphan age."""

from __future__ import annotations

import dataclasses

import dagster as dg
from pydantic import Field, field_validator

from recsys_assets.resources.environment import env
from recsys_assets.workflow.cost import LIST_PRICES, PriceTable, Tiers


class GuardrailsResource(dg.ConfigurableResource):
    """The cost and quality rails every run is held to: AWS prices (each a setting, none verified on AWS's
    page), the run budget, the training cap, the quality gate and the orphan sweep's minimum age."""

    price_per_gb_ingested: float = env("RECSYS_PRICE_PER_GB_INGESTED", default=LIST_PRICES.per_gb_ingested,
                                       description="USD per GB a bulk import reads")
    price_per_training_hour: float = env("RECSYS_PRICE_PER_TRAINING_HOUR", default=LIST_PRICES.per_training_hour,
                                         description="USD per billed training hour (recipes other than the v2 ones)")
    price_per_1000_interactions_trained: float = env(
        "RECSYS_PRICE_PER_1000_INTERACTIONS_TRAINED", default=LIST_PRICES.per_1000_interactions_trained,
        description="USD per 1,000 interactions a v2 recipe trains on (unverified default)")
    price_per_1000_recommendations: str = env(
        "RECSYS_PRICE_PER_1000_RECOMMENDATIONS", default="0.086",
        description="USD per 1,000 batch recommendations: one number, or tiers by the month's volume as "
                    "units:usd,...,inf:usd")
    price_s3_per_gb_month: float = env("RECSYS_PRICE_S3_PER_GB_MONTH", default=LIST_PRICES.s3_per_gb_month,
                                       description="USD per GB-month of S3 Standard storage")
    budget_usd_per_run: float | None = env("RECSYS_BUDGET_USD_PER_RUN", default=None,
                                           description="Refuse a run whose estimate is above this, before its first "
                                                       "paid call; unset = no limit")
    expected_training_hours: float = env("RECSYS_EXPECTED_TRAINING_HOURS", default=1.0,
                                         description="Billed hours one training job of an hour-billed recipe is "
                                                     "expected to take, for the estimate")
    max_training_hours: float = env("RECSYS_MAX_TRAINING_HOURS", default=12.0,
                                    description="Training still running after this many wall-clock hours is "
                                                "stopped. It caps time, not money: billed training hours can "
                                                "exceed wall-clock hours")
    history_growth_per_month: float = env("RECSYS_HISTORY_GROWTH_PER_MONTH", default=0.1,
                                          description="How much the interaction history grows in a month (0.1 = "
                                                      "10 %), for the monthly projection of the daily FULL import")
    quality_minimums: dict[str, float] = env("RECSYS_QUALITY_MINIMUMS", default_factory=dict,
                                             description="GetSolutionMetrics name -> lowest acceptable value, as "
                                                         "metric=number,metric=number")
    quality_max_drop: float = env("RECSYS_QUALITY_MAX_DROP", default=0.2,
                                  description="Largest relative drop of a metric vs the last good run")
    orphan_max_age_hours: float = env("RECSYS_ORPHAN_MAX_AGE_HOURS", default=24.0,
                                      description="The sweep deletes our resources older than this")
    runs_per_month: float = Field(30.4, description="Runs the daily schedule makes in a month (from the schedule), "
                                                    "for the monthly cost projection")

    @field_validator("quality_minimums", mode="before")
    @classmethod
    def _pairs(cls, value):
        # "normalized_discounted_cumulative_gain_at_10=0.05,precision_at_10=0.01"
        if not isinstance(value, str):
            return value
        pairs = {}
        for item in value.split(","):
            metric, sep, number = item.partition("=")
            try:
                pairs[metric.strip()] = float(number)
            except ValueError:
                sep = ""
            if not sep or not metric.strip():
                raise ValueError(f"expected metric=number, not {item!r}")
        return pairs

    @field_validator("price_per_1000_recommendations")
    @classmethod
    def _tiers(cls, value: str) -> str:
        Tiers.parse(value)
        return value

    @property
    def prices(self) -> PriceTable:
        return dataclasses.replace(
            LIST_PRICES, per_gb_ingested=self.price_per_gb_ingested, per_training_hour=self.price_per_training_hour,
            per_1000_interactions_trained=self.price_per_1000_interactions_trained,
            per_1000_batch_recommendations=Tiers.parse(self.price_per_1000_recommendations),
            s3_per_gb_month=self.price_s3_per_gb_month)
