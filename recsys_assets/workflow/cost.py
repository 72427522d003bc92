"""What a run costs on Amazon Personalize, and the budget guard that refuses an expensive one.

Prices are estimates from public write-ups of Personalize pricing (us-east-1), not a quote: verify
them at https://aws.amazon.com/personalize/pricing/ and set your own with RECSYS_PRICE_* variables.
The local engine costs nothing; its figures say what the same run would cost on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys_assets.personalize_rules.limits import GB, MAX_HPO_TRAINING_JOBS


@dataclass(frozen=True)
class PriceTable:
    per_gb_ingested: float
    per_training_hour: float
    per_1000_batch_recommendations: float

    def ingestion(self, bytes_ingested: int) -> float:
        return bytes_ingested / GB * self.per_gb_ingested

    def training(self, hours: float) -> float:
        return hours * self.per_training_hour

    def batch(self, recommendations: int) -> float:
        return recommendations / 1000 * self.per_1000_batch_recommendations


# us-east-1 list prices as public write-ups give them (personalize-api.md §8.2): $0.05 per GB ingested and
# $0.24 per training hour (two sources agree), $0.086 per 1,000 batch recommendations (one source).
LIST_PRICES = PriceTable(per_gb_ingested=0.05, per_training_hour=0.24, per_1000_batch_recommendations=0.086)


class BudgetExceeded(Exception):
    pass


def training_multiplier(perform_hpo: bool, solution_config: dict | None) -> int:
    """How many trainings one solution version pays for: HPO runs up to maxNumberOfTrainingJobs of them."""
    if not perform_hpo:
        return 1
    hpo = (solution_config or {}).get("hpoConfig", {}).get("hpoResourceConfig", {})
    # The service's default when unset is not documented; assume its maximum, 40, to stay on the safe side.
    return int(hpo.get("maxNumberOfTrainingJobs", MAX_HPO_TRAINING_JOBS))


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
