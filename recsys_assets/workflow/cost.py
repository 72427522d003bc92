"""What a run costs on Amazon Personalize, and the budget guard that refuses an expensive one.

Prices are estimates from public write-ups of Personalize pricing (us-east-1), not a quote: verify
them at https://aws.amazon.com/personalize/pricing/ and set your own with RECSYS_PRICE_* variables.
The local engine costs nothing; its figures say what the same run would cost on AWS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

GB = 1024**3
DAYS_PER_MONTH = 30.4


@dataclass(frozen=True)
class PriceTable:
    per_gb_ingested: float = 0.05
    per_training_hour: float = 0.24
    per_1000_batch_recommendations: float = 0.086

    def ingestion(self, bytes_ingested: int) -> float:
        return bytes_ingested / GB * self.per_gb_ingested

    def training(self, hours: float) -> float:
        return hours * self.per_training_hour

    def batch(self, recommendations: int) -> float:
        return recommendations / 1000 * self.per_1000_batch_recommendations


class BudgetExceeded(Exception):
    pass


def training_multiplier(perform_hpo: bool, solution_config: dict | None) -> int:
    """How many trainings one solution version pays for: HPO runs up to maxNumberOfTrainingJobs of them."""
    if not perform_hpo:
        return 1
    hpo = (solution_config or {}).get("hpoConfig", {}).get("hpoResourceConfig", {})
    # The service's default when unset is not documented; assume its maximum, 40, to stay on the safe side.
    return int(hpo.get("maxNumberOfTrainingJobs", 40))


def check_training_budget(prices: PriceTable, *, expected_hours: float, multiplier: int,
                          budget_usd: float | None) -> float:
    """The estimated training cost; BudgetExceeded before anything is created if it is over budget."""
    estimate = prices.training(expected_hours * multiplier)
    if budget_usd is not None and estimate > budget_usd:
        raise BudgetExceeded(
            f"training would cost about ${estimate:.2f} ({expected_hours:g} h expected x {multiplier} training "
            f"job(s) x ${prices.per_training_hour}/h), over the run budget of ${budget_usd:.2f}; "
            "lower maxNumberOfTrainingJobs, turn HPO off or raise RECSYS_BUDGET_USD_PER_RUN"
        )
    return estimate


def runs_per_month(cron: str, timezone: str) -> float:
    """Runs a schedule makes in an average month (counted over the next 28 days)."""
    from dagster._utils.schedules import cron_string_iterator  # the parser Dagster schedules with

    start = time.time()
    end = start + 28 * 86400
    ticks = 0
    for tick in cron_string_iterator(start, cron, timezone):
        if tick.timestamp() > end:
            break
        ticks += 1
    return ticks * DAYS_PER_MONTH / 28
