"""What a run costs on AWS, per billing dimension, and the budget guard that refuses an expensive one.

A small cost model, one function per line of the bill:
- **ingestion**: every GB a bulk import reads (the daily FULL import re-reads the whole history);
- **training**: hour-billed recipes pay training hours ("one hour of compute capacity using 4 vCPUs and
  8 GiB"; Personalize may use bigger instances, so billed hours can exceed wall-clock hours), while
  User-Personalization-v2 and Personalized-Ranking-v2 pay per interaction trained on, counted *before*
  event-type/value filtering [personalize_rules.recipes]; HPO and AutoML multiply the trainings paid for;
- **batch inference**: per 1,000 recommendations (users x numResults), tiered by the month's volume;
- **S3**: the run's files (CSVs, batch input and output) stored until they are deleted, and the requests.

Where each price comes from is next to it (``SOURCES``). None could be read off AWS's own pricing page here
(https://aws.amazon.com/personalize/pricing/ states the units, not the numbers, in the copies we have):
every price is a setting (RECSYS_PRICE_*), and the README says which numbers are unverified.
The local engine costs nothing; its figures say what the same run would cost on AWS.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace

from recsys_assets.personalize_rules.limits import GB, MAX_HPO_TRAINING_JOBS
from recsys_assets.personalize_rules.recipes import is_billed_by_interactions

INF = math.inf


@dataclass(frozen=True)
class Tiers:
    """A price per ``per`` (1,000) units that falls with the month's volume: (units up to which it holds, usd), ..."""

    steps: tuple[tuple[float, float], ...]
    per: float = 1000

    def cost(self, units: float) -> float:
        total, below = 0.0, 0.0
        for up_to, usd in self.steps:
            in_tier = max(0.0, min(units, up_to) - below)
            total += in_tier / self.per * usd
            below = up_to
        return total

    @classmethod
    def parse(cls, text: str) -> "Tiers":
        """``"20000000:0.067,200000000:0.058,inf:0.04"`` (units:usd per 1,000), or one number for one tier."""
        if ":" not in text:
            return cls(((INF, float(text)),))
        steps = []
        for part in text.split(","):
            up_to, _, usd = part.partition(":")
            steps.append((float(up_to), float(usd)))
        if [s[0] for s in steps] != sorted(s[0] for s in steps) or steps[-1][0] != INF:
            raise ValueError(f"tiers must rise and end with inf:<price>, not {text!r}")
        return cls(tuple(steps))


@dataclass(frozen=True)
class PriceTable:
    per_gb_ingested: float = 0.05
    per_training_hour: float = 0.24
    per_1000_interactions_trained: float = 0.002  # v2 recipes
    per_1000_batch_recommendations: Tiers = Tiers(((INF, 0.086),))
    s3_per_gb_month: float = 0.023
    s3_per_1000_writes: float = 0.005
    s3_per_1000_reads: float = 0.0004
    # Real-time campaigns: per TPS-hour (per=1), tiered by the month's TPS-hours; a campaign pays at least its
    # minProvisionedTPS every hour it is ACTIVE, or the actual TPS when higher.
    per_tps_hour: Tiers = Tiers(((20_000, 0.2), (200_000, 0.1), (INF, 0.05)), per=1)


# us-east-1 list prices. "verified" means seen on an AWS page from this machine; none is.
SOURCES = {
    "per_gb_ingested": "two public write-ups agree (personalize-api.md §8.2); unit per AWS's pricing page",
    "per_training_hour": "two public write-ups agree (personalize-api.md §8.2); unit per AWS's pricing page",
    "per_1000_interactions_trained": "UNVERIFIED assumption: AWS documents the unit (interactions before "
                                     "filtering, docs.aws.amazon.com/personalize/latest/dg/event-values-types.html), "
                                     "not the price here",
    "per_1000_batch_recommendations": "one public write-up, first tier only; lower tiers UNVERIFIED (set them with "
                                      "RECSYS_PRICE_BATCH_TIERS)",
    "s3_per_gb_month": "S3 Standard, public write-ups of aws.amazon.com/s3/pricing",
    "s3_per_1000_writes": "S3 PUT/COPY/POST/LIST, public write-ups of aws.amazon.com/s3/pricing",
    "s3_per_1000_reads": "S3 GET, public write-ups of aws.amazon.com/s3/pricing",
    # https://aws.amazon.com/personalize/pricing/ ("Recommendation (inference)": real-time recommendations are
    # measured in TPS, "you pay for the maximum of either the minimum provisioned TPS or the actual TPS", actual
    # TPS averaged over 5-minute windows) and CreateCampaign's minProvisionedTPS docs
    # (docs.aws.amazon.com/personalize/latest/dg/API_CreateCampaign.html: "It sets the minimum billing charge
    # for the campaign while it is active"). The page copy here has the unit, not the numbers.
    "per_tps_hour": "unit and billing rule per aws.amazon.com/personalize/pricing/; tier prices UNVERIFIED "
                    "(recalled from that page, not in the copy read here): 0.2 USD per TPS-hour for the first "
                    "20,000 TPS-hours a month, 0.1 for the next 180,000, 0.05 above 200,000",
}
LIST_PRICES = PriceTable()
# AutoML's own recipe list when none is given is not published; its USER_PERSONALIZATION candidates were two
# (aws-hrnn, aws-hrnn-metadata) when it was documented. An assumption, so budgets count it explicitly.
AUTOML_DEFAULT_RECIPES = 2
# The service's default maxNumberOfTrainingJobs is not documented: assume its maximum.
HPO_DEFAULT_JOBS = MAX_HPO_TRAINING_JOBS


def campaign_cost(prices: PriceTable, *, min_provisioned_tps: float, hours: float,
                  actual_tps: float | None = None, month_tps_hours: float | None = None) -> tuple[float, str]:
    """What a real-time campaign costs for ``hours`` ACTIVE: the greater of minProvisionedTPS and the actual
    TPS, per hour, on the month's TPS-hour tiers (pass ``month_tps_hours`` and this pays its share)."""
    tps = max(float(min_provisioned_tps), float(actual_tps or 0.0))
    tps_hours = tps * hours
    month = tps_hours if month_tps_hours is None else month_tps_hours
    usd = prices.per_tps_hour.cost(month) * (tps_hours / month if month else 0.0)
    return usd, f"{tps:g} TPS x {hours:g} h = {tps_hours:,.0f} TPS-hours, tiered on {month:,.0f}/month"


class BudgetExceeded(Exception):
    pass


@dataclass(frozen=True)
class Trainings:
    """What one solution version pays for: each recipe it trains (AutoML: several) times its HPO jobs."""

    recipes: tuple[str | None, ...]  # None: AutoML's own choice, billing unknown -> by the hour
    jobs_per_recipe: int

    @property
    def count(self) -> int:
        return len(self.recipes) * self.jobs_per_recipe


def trainings(*, recipe_arn: str | None, perform_hpo: bool, perform_auto_ml: bool,
              solution_config: dict | None) -> Trainings:
    config = solution_config or {}
    if perform_auto_ml:
        listed = tuple(config.get("autoMLConfig", {}).get("recipeList") or ())
        recipes = listed or (None,) * AUTOML_DEFAULT_RECIPES
        perform_hpo = True  # AutoML always tunes (CreateSolution performHPO docs)
    else:
        recipes = (recipe_arn,)
    jobs = 1
    if perform_auto_ml:
        # "When performAutoML is set to true, Amazon Personalize only evaluates the autoMLConfig section of the
        # solution configuration" (CreateSolution, solutionConfig): hpoConfig's limits don't apply; budget the maximum.
        jobs = HPO_DEFAULT_JOBS
    elif perform_hpo:
        jobs = int(config.get("hpoConfig", {}).get("hpoResourceConfig", {}).get("maxNumberOfTrainingJobs",
                                                                                 HPO_DEFAULT_JOBS))
    return Trainings(recipes, jobs)


@dataclass(frozen=True)
class RunUsage:
    """The billable quantities of one run."""

    bytes_ingested: int
    interactions: int  # rows of the interactions dataset, before any event filtering
    trainings: Trainings
    training_hours: float  # per training job (expected), or billed in total (actual: ``hours_are_total``)
    recommendations: int  # users x numResults, what the batch job returns
    bytes_stored: int = 0  # the run's files on S3 (CSVs + batch input and output)
    days_stored: float = 1.0
    s3_writes: int = 0
    s3_reads: int = 0
    hours_are_total: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> "RunUsage":
        t = doc["trainings"]
        return cls(**{**doc, "trainings": Trainings(tuple(t["recipes"]), t["jobs_per_recipe"])})


@dataclass(frozen=True)
class Cost:
    ingestion: float
    training: float
    batch: float
    s3: float
    lines: dict[str, str] = field(default_factory=dict, compare=False)  # dimension -> how it was computed

    @property
    def total(self) -> float:
        return self.ingestion + self.training + self.batch + self.s3

    def as_metadata(self) -> dict[str, float]:
        return {f"cost/{k}_usd": round(getattr(self, k), 6) for k in ("ingestion", "training", "batch", "s3")} | {
            "cost/total_usd": round(self.total, 6)}


def training_cost(prices: PriceTable, usage: RunUsage) -> tuple[float, str]:
    t = usage.trainings
    by_interactions = [r for r in t.recipes if r is not None and is_billed_by_interactions(r)]
    by_hours = len(t.recipes) - len(by_interactions)
    per_interaction = usage.interactions / 1000 * prices.per_1000_interactions_trained
    # The service reports trainingHours for every recipe; only the hour-billed ones pay them (an AutoML list
    # mixing both kinds pays all its hours: the service does not say which recipe took them).
    if not by_hours:
        hours = 0.0
    elif usage.hours_are_total:
        hours = usage.training_hours
    else:
        hours = usage.training_hours * by_hours * t.jobs_per_recipe
    usd = len(by_interactions) * t.jobs_per_recipe * per_interaction + hours * prices.per_training_hour
    parts = []
    if by_interactions:
        parts.append(f"{len(by_interactions) * t.jobs_per_recipe} x {usage.interactions:,} interactions x "
                     f"${prices.per_1000_interactions_trained}/1,000")
    if by_hours:
        # Fixed-point: a minute of training is 0.016667 h, not 1.7e-02 (the service reports 6 decimals at most).
        parts.append(f"{f'{hours:.6f}'.rstrip('0').rstrip('.')} training h x ${prices.per_training_hour}/h")
    return usd, " + ".join(parts)


def run_cost(prices: PriceTable, usage: RunUsage, *, month_recommendations: float | None = None) -> Cost:
    """One run's bill. Batch tiers apply to the month's volume: pass it, and the run pays its share."""
    month = usage.recommendations if month_recommendations is None else month_recommendations
    batch = prices.per_1000_batch_recommendations.cost(month) * (usage.recommendations / month if month else 0.0)
    training, how = training_cost(prices, usage)
    s3 = (usage.bytes_stored / GB * prices.s3_per_gb_month * usage.days_stored / 30.4
          + usage.s3_writes / 1000 * prices.s3_per_1000_writes + usage.s3_reads / 1000 * prices.s3_per_1000_reads)
    return Cost(
        ingestion=usage.bytes_ingested / GB * prices.per_gb_ingested, training=training, batch=batch, s3=s3,
        lines={"ingestion": f"{usage.bytes_ingested / GB:.4f} GB x ${prices.per_gb_ingested}/GB",
               "training": how, "batch": f"{usage.recommendations:,} recommendations, tiered on {month:,.0f}/month",
               "s3": f"{usage.bytes_stored / GB:.4f} GB for {usage.days_stored:g} days, {usage.s3_writes} writes, "
                     f"{usage.s3_reads} reads"})


def monthly_cost(prices: PriceTable, usage: RunUsage, *, runs_per_month: float,
                 history_growth_per_month: float = 0.0) -> Cost:
    """A month of runs like this one: each FULL import re-reads a history that grows by
    ``history_growth_per_month`` (0.1: 10 % more interactions by the month's end), and v2 training pays for
    it again; batch volume is priced on the month's tiers."""
    n = max(1, round(runs_per_month))
    month_recs = usage.recommendations * runs_per_month
    total = Cost(0.0, 0.0, 0.0, 0.0)
    for k in range(n):
        grown = 1 + history_growth_per_month * k / n
        day = replace(usage, bytes_ingested=int(usage.bytes_ingested * grown),
                      interactions=int(usage.interactions * grown))
        c = run_cost(prices, day, month_recommendations=month_recs)
        total = Cost(total.ingestion + c.ingestion, total.training + c.training, total.batch + c.batch,
                     total.s3 + c.s3)
    scale = runs_per_month / n  # 30.4 runs: the 0.4 of a run at the average day's cost
    lines = {k: f"{runs_per_month:g} runs, the last: {v}" for k, v in c.lines.items()}
    return Cost(total.ingestion * scale, total.training * scale, total.batch * scale, total.s3 * scale, lines)


def check_budget(cost: Cost, budget_usd: float | None, *, what: str) -> None:
    """BudgetExceeded, naming each dimension, if ``cost`` is over the run budget."""
    if budget_usd is None or cost.total <= budget_usd:
        return
    lines = "; ".join(f"{k} ${getattr(cost, k):.2f} ({cost.lines.get(k, '')})"
                      for k in ("ingestion", "training", "batch", "s3") if getattr(cost, k))
    raise BudgetExceeded(
        f"{what} would cost about ${cost.total:.2f}, over the run budget of ${budget_usd:.2f}: {lines}. "
        "Lower maxNumberOfTrainingJobs or num_results, turn HPO/AutoML off, or raise RECSYS_BUDGET_USD_PER_RUN")
