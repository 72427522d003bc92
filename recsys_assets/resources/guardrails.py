"""Cost and quality rails every run is held to: prices, budget, training cap, quality gate, orphan age."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from recsys_assets.resources.environment import env
from recsys_assets.workflow.cost import LIST_PRICES, PriceTable


class GuardrailsResource(dg.ConfigurableResource):
    price_per_gb_ingested: float = env("RECSYS_PRICE_PER_GB_INGESTED", default=LIST_PRICES.per_gb_ingested,
                                       description="USD per GB imported (estimate; verify on AWS pricing)")
    price_per_training_hour: float = env("RECSYS_PRICE_PER_TRAINING_HOUR", default=LIST_PRICES.per_training_hour,
                                         description="USD per training hour (estimate)")
    price_per_1000_recommendations: float = env("RECSYS_PRICE_PER_1000_RECOMMENDATIONS",
                                                default=LIST_PRICES.per_1000_batch_recommendations,
                                                description="USD per 1,000 batch recommendations (estimate)")
    budget_usd_per_run: float | None = env("RECSYS_BUDGET_USD_PER_RUN", default=None,
                                           description="Refuse training estimated above this; unset = no limit")
    expected_training_hours: float = env("RECSYS_EXPECTED_TRAINING_HOURS", default=1.0,
                                         description="Hours one training job is expected to take")
    max_training_hours: float = env("RECSYS_MAX_TRAINING_HOURS", default=12.0,
                                    description="Training still running after this is stopped")
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

    @property
    def prices(self) -> PriceTable:
        return PriceTable(self.price_per_gb_ingested, self.price_per_training_hour,
                          self.price_per_1000_recommendations)
