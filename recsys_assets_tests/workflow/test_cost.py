"""The cost model, one billing dimension at a time, and the budget guard (pure functions)."""

import math
from dataclasses import replace
from pathlib import Path

import pytest

from bench.cost_table import markdown
from recsys_assets.personalize_rules.limits import GB
from recsys_assets.workflow.cost import (
    LIST_PRICES,
    SOURCES,
    BudgetExceeded,
    PriceTable,
    RunUsage,
    Tiers,
    check_budget,
    monthly_cost,
    run_cost,
    trainings,
)

V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
PRICES = PriceTable(per_gb_ingested=0.05, per_training_hour=0.24, per_1000_interactions_trained=0.002,
                    per_1000_batch_recommendations=Tiers(((math.inf, 0.086),)), s3_per_gb_month=0.023,
                    s3_per_1000_writes=0.005, s3_per_1000_reads=0.0004)


def usage(recipe=V2, *, hours=3.0, interactions=2_000_000, **kw) -> RunUsage:
    return RunUsage(bytes_ingested=2 * GB, interactions=interactions,
                    trainings=trainings(recipe_arn=recipe, perform_hpo=False, perform_auto_ml=False,
                                        solution_config=None),
                    training_hours=hours, recommendations=125_000, **kw)


def test_every_price_says_where_it_comes_from():
    assert set(SOURCES) == {f for f in PriceTable.__dataclass_fields__}
    assert "UNVERIFIED" in SOURCES["per_1000_interactions_trained"]


def test_v2_recipes_are_billed_by_the_interactions_not_the_hours():
    cost = run_cost(PRICES, usage(V2, hours=3.0))
    assert cost.training == pytest.approx(2_000 * 0.002)  # 2M interactions, however long it trained
    assert run_cost(PRICES, usage(V2, hours=30.0)).training == cost.training
    assert "2,000,000 interactions" in cost.lines["training"]
    # as billed: the service reports trainingHours for v2 too, and they are not what it bills
    billed = run_cost(PRICES, replace(usage(V2, hours=0.7), hours_are_total=True))
    assert billed.training == pytest.approx(2_000 * 0.002)


def test_other_recipes_are_billed_by_the_training_hours():
    assert run_cost(PRICES, usage(V1, hours=3.0)).training == pytest.approx(3 * 0.24)
    assert run_cost(PRICES, usage(V1, hours=3.0, interactions=9_000_000)).training == pytest.approx(3 * 0.24)


def test_ingestion_batch_and_s3():
    cost = run_cost(PRICES, usage(bytes_stored=GB, days_stored=30.4, s3_writes=1000, s3_reads=1000))
    assert cost.ingestion == pytest.approx(0.10)
    assert cost.batch == pytest.approx(125 * 0.086)
    assert cost.s3 == pytest.approx(0.023 + 0.005 + 0.0004)
    assert cost.total == pytest.approx(cost.ingestion + cost.training + cost.batch + cost.s3)


def test_hpo_multiplies_the_trainings_paid_for():
    hpo = {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "8"}}}
    assert trainings(recipe_arn=V1, perform_hpo=False, perform_auto_ml=False, solution_config=hpo).count == 1
    assert trainings(recipe_arn=V1, perform_hpo=True, perform_auto_ml=False, solution_config=hpo).count == 8
    assert trainings(recipe_arn=V1, perform_hpo=True, perform_auto_ml=False, solution_config=None).count == 40


def test_automl_trains_every_recipe_of_its_list_with_hpo_even_when_hpo_is_off():
    # AutoML reads only autoMLConfig: hpoConfig's limit of 4 does not apply, each recipe may take the maximum.
    config = {"autoMLConfig": {"recipeList": [V1, V2, "arn:aws:personalize:::recipe/aws-popularity-count"]},
              "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "4"}}}
    paid = trainings(recipe_arn=None, perform_hpo=False, perform_auto_ml=True, solution_config=config)
    assert (paid.count, paid.jobs_per_recipe) == (120, 40)
    # no list: the service's own, assumed two recipes, billed by the hour
    assert trainings(recipe_arn=None, perform_hpo=False, perform_auto_ml=True, solution_config=None).count == 80
    u = RunUsage(bytes_ingested=0, interactions=1_000_000, trainings=paid, training_hours=1.0, recommendations=0)
    # V2 pays interactions x 40 jobs; V1 and popularity-count pay 40 hours each
    assert run_cost(PRICES, u).training == pytest.approx(40 * 1_000 * 0.002 + 80 * 0.24)


def test_batch_tiers_apply_to_the_month():
    tiers = Tiers.parse("1000:0.1,inf:0.05")
    assert tiers.cost(3000) == pytest.approx(0.1 + 2 * 0.05)
    assert Tiers.parse("0.086").cost(1000) == pytest.approx(0.086)
    for bad in ("1000:0.1", "inf:0.05,1000:0.1", "x:1"):
        with pytest.raises(ValueError):
            Tiers.parse(bad)
    prices = PriceTable(per_1000_batch_recommendations=tiers)
    one = RunUsage(bytes_ingested=0, interactions=0, trainings=trainings(recipe_arn=V1, perform_hpo=False,
                   perform_auto_ml=False, solution_config=None), training_hours=0, recommendations=1000)
    # A month of 30 such runs: the first 1,000 at 0.1, the other 29,000 at 0.05
    assert monthly_cost(prices, one, runs_per_month=30).batch == pytest.approx(0.1 + 29 * 0.05)


def test_the_monthly_projection_grows_with_the_history():
    flat = monthly_cost(PRICES, usage(), runs_per_month=30.4)
    assert flat.ingestion == pytest.approx(30.4 * run_cost(PRICES, usage()).ingestion)
    grown = monthly_cost(PRICES, usage(), runs_per_month=30.4, history_growth_per_month=0.1)
    # the month's imports re-read a history 0 .. 10 % larger: about 5 % more on average
    assert grown.ingestion / flat.ingestion == pytest.approx(1.05, abs=0.005)
    assert grown.training / flat.training == pytest.approx(1.05, abs=0.005)
    assert grown.batch == pytest.approx(flat.batch)


def test_budget_guard_names_each_dimension():
    cost = run_cost(LIST_PRICES, usage(V1))
    check_budget(cost, None, what="this run")
    check_budget(cost, cost.total + 0.01, what="this run")
    with pytest.raises(BudgetExceeded, match=r"this run would cost about \$\d+\.\d\d, over the run budget of "
                                             r"\$1\.00: ingestion \$0\.10 .*training \$0\.72 .*batch \$10\.75"):
        check_budget(cost, 1.0, what="this run")


def test_the_readme_cost_table_is_the_models():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown() in readme, "README's cost table is stale: paste `python -m bench.cost_table`"
