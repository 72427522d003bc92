"""Cost and quality rails every run is held to: prices, budget, training cap, quality gate, orphan age."""

import dagster as dg
from pydantic import Field

from recsys_assets.workflow.cost import PriceTable


class GuardrailsResource(dg.ConfigurableResource):
    price_per_gb_ingested: float = Field(0.05, description="USD per GB imported (estimate; verify on AWS pricing)")
    price_per_training_hour: float = Field(0.24, description="USD per training hour (estimate)")
    price_per_1000_recommendations: float = Field(0.086, description="USD per 1,000 batch recommendations (estimate)")
    budget_usd_per_run: float | None = Field(None, description="Refuse training estimated above this; unset = no limit")
    expected_training_hours: float = Field(1.0, description="Hours one training job is expected to take")
    max_training_hours: float = Field(12.0, description="Training still running after this is stopped")
    quality_minimums: dict[str, float] = Field(default_factory=dict,
                                               description="GetSolutionMetrics name -> lowest acceptable value")
    quality_max_drop: float = Field(0.2, description="Largest relative drop of a metric vs the last good run")
    orphan_max_age_hours: float = Field(24.0, description="The sweep deletes our resources older than this")
    # The daily schedule's cadence, for the monthly cost projection.
    schedule_cron: str = "0 3 * * *"
    schedule_timezone: str = "UTC"

    @property
    def prices(self) -> PriceTable:
        return PriceTable(self.price_per_gb_ingested, self.price_per_training_hour,
                          self.price_per_1000_recommendations)
