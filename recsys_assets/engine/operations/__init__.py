"""The operation handlers, by resource family: ``handler(svc, params) -> response``."""

from recsys_assets.engine.operations import campaigns, datasets, inference, solutions, tags_and_recipes

OPERATIONS = {
    **datasets.OPERATIONS,
    **solutions.OPERATIONS,
    **campaigns.OPERATIONS,
    **inference.OPERATIONS,
    **tags_and_recipes.OPERATIONS,
}
