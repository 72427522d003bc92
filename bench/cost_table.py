"""The README's monthly cost table, from the cost model (``recsys_assets.workflow.cost``) at list prices.

    PYTHONPATH=. .venv/bin/python -m bench.cost_table

Two shops, the default settings (daily runs, User-Personalization-v2, every user scored) and numResults 25
(ours) vs 500 (the blog's); the v1 recipe at one billed training hour for comparison. CSV sizes are what
our export writes per row: about 40 bytes per interaction, 30 per user, 60 per item.
"""

from __future__ import annotations

from recsys_assets.workflow.cost import LIST_PRICES, RunUsage, monthly_cost, trainings

SHOPS = {"demo shop (5,000 users, 2,000 items, 200,000 events)": (5_000, 2_000, 200_000),
         "100k-user shop (100,000 users, 10,000 items, 5,000,000 events)": (100_000, 10_000, 5_000_000)}
RECIPES = {"v2": "arn:aws:personalize:::recipe/aws-user-personalization-v2",
           "v1, 1 h": "arn:aws:personalize:::recipe/aws-user-personalization"}
RUNS_PER_MONTH, GROWTH = 30.4, 0.1


def rows() -> list[tuple[str, str, int, dict[str, float]]]:
    out = []
    for shop, (users, items, events) in SHOPS.items():
        for recipe, arn in RECIPES.items():
            for num_results in (25, 500):
                csv_bytes = events * 40 + users * 30 + items * 60
                usage = RunUsage(
                    bytes_ingested=csv_bytes, interactions=events,
                    trainings=trainings(recipe_arn=arn, perform_hpo=False, perform_auto_ml=False, solution_config=None),
                    training_hours=1.0, recommendations=users * num_results,
                    bytes_stored=csv_bytes + users * num_results * 30, days_stored=1.0, s3_writes=5, s3_reads=10)
                cost = monthly_cost(LIST_PRICES, usage, runs_per_month=RUNS_PER_MONTH, history_growth_per_month=GROWTH)
                out.append((shop, recipe, num_results, {k: getattr(cost, k) for k in
                                                        ("ingestion", "training", "batch", "s3", "total")}))
    return out


def markdown() -> str:
    lines = ["| shop | recipe | numResults | ingestion | training | batch | S3 | **per month** |",
             "|---|---|---|---|---|---|---|---|"]
    for shop, recipe, num_results, c in rows():
        lines.append(f"| {shop} | {recipe} | {num_results} | ${c['ingestion']:,.2f} | ${c['training']:,.2f} | "
                     f"${c['batch']:,.2f} | ${c['s3']:,.2f} | **${c['total']:,.2f}** |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
