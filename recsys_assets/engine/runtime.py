"""``personalize-runtime`` as the local engine serves it: an ACTIVE campaign answers GetRecommendations and
GetPersonalizedRanking [API_RS_GetRecommendations, API_RS_GetPersonalizedRanking].

Answers are the batch job's: the per-block logic of ``batch`` (filters applied before the numResults cut,
``Model.top_items`` / ``top_similar`` / ``rank``), for a block of one request. Loaded models are kept per
process, keyed by model path (and the file's mtime, so a retrained version at the same path reloads),
and so are the filters' ``FilterContext`` per dataset group, rebuilt when a dataset file changes: events
and records put with ``personalize-events`` count for filters on the next request, and for the model after
the next training, as the service documents [DG:incremental-data-updates].

Errors are the two the runtime models: ResourceNotFoundException (an unknown campaign or filter, or a
campaign that is not ACTIVE) and InvalidInputException (anything wrong with the request).

Emulator choices where the docs are silent: ``context`` is accepted and does not change the scores (the
engine's models have no contextual features); numResults 0 is refused; a promotion's items come from the
promotion filter only (the request filter applies to the other items, as documented for promotions
[DG:promoting-items]) and are placed at random positions among them, in their own order.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import uuid
from collections import OrderedDict

import numpy as np

from recsys_assets.engine import batch
from recsys_assets.engine.catalog import Resource
from recsys_assets.engine.core import DataPlaneService
from recsys_assets.engine.errors import ServiceError, invalid, not_found
from recsys_assets.engine.filter_evaluation import FilterContext, FilterDataError
from recsys_assets.engine.models import Model
from recsys_assets.engine.recipes.catalogue import Recipe, get_recipe
from recsys_assets.personalize_rules.bulk_csv import ID_MAX_CHARS
from recsys_assets.personalize_rules.filter_grammar import FilterExpressionError, ParsedFilter, parse_filter
from recsys_assets.personalize_rules.limits import MAX_NUM_RESULTS, MAX_RANKING_ITEMS

DEFAULT_NUM_RESULTS = 25
MAX_NUM_RESULTS_WITH_METADATA = 50  # "If you are including metadata in recommendations, the maximum is 50."
SCORE_DECIMALS = 7  # as the batch job writes them (kernels.SCORE_DECIMALS)
_CACHE_SIZE = 8

_models: OrderedDict[str, tuple[int, Model]] = OrderedDict()
_contexts: OrderedDict[tuple, FilterContext] = OrderedDict()
_lock = threading.Lock()


def load_model(path: str | os.PathLike) -> Model:
    """The model at ``path``, loaded once per process (again if the file was replaced)."""
    path = str(path)
    stamp = os.stat(path).st_mtime_ns
    with _lock:
        cached = _models.get(path)
        if cached is not None and cached[0] == stamp:
            _models.move_to_end(path)
            return cached[1]
    model = Model.load(path)
    with _lock:
        _models[path] = (stamp, model)
        while len(_models) > _CACHE_SIZE:
            _models.popitem(last=False)
    return model


class _Scorer(batch.Writer):
    """The batch job's per-block answer for one request, without the output rendering a job sets up."""

    def __init__(self, model: Model, recipe: Recipe, num_results: int, filter_: ParsedFilter | None,
                 ctx: FilterContext | None):
        self.model, self.recipe, self.num_results, self.filter, self.ctx = model, recipe, num_results, filter_, ctx

    def one(self, key: str, filter_values: dict | None, item_list: list[str] | None = None):
        line = batch._Line("", key=key, item_list=item_list, filter_values=filter_values)
        try:
            return self.answer([line])[1]
        except FilterDataError as e:
            raise invalid(f"The filter can't be applied: {e}.") from None


@dataclasses.dataclass
class _Serving:
    campaign: Resource
    group: str
    recipe: Recipe
    model: Model
    model_key: tuple[str, int]  # (path, mtime): what the filter contexts are built for
    datasets: list[tuple[str, str, str]]  # (arn, type, schema arn) of the group's datasets


class LocalRuntime(DataPlaneService):
    """personalize-runtime: ACTIVE campaigns answering GetRecommendations and GetPersonalizedRanking."""

    # ---- what a request is answered with --------------------------------------------------------
    def serving(self, campaign_arn: str | None, recommender_arn: str | None = None) -> _Serving:
        from recsys_assets.engine.operations.campaigns import deployed_version

        if recommender_arn:
            raise invalid("The local Personalize engine serves campaigns only; recommenders (domain dataset "
                          "groups) are not implemented.")
        if not campaign_arn:
            raise invalid("Either campaignArn or recommenderArn is required.")
        with self.transaction() as txn:
            campaign = txn.get(campaign_arn)
            if campaign is None or campaign.kind != "campaign":
                raise not_found(campaign_arn)
            if campaign.status != "ACTIVE":
                raise ServiceError("ResourceNotFoundException",
                                   f"Campaign {campaign_arn} is not ACTIVE (status: {campaign.status}).")
            version = deployed_version(self, txn, campaign)
            group = version.body["datasetGroupArn"]
            datasets = [(d.arn, d.body["datasetType"], d.body["schemaArn"]) for d in txn.find("dataset", group)]
        path = version.internal.get("model") or self.data.model_path(version.arn)
        try:
            model = load_model(path)
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            raise not_found(version.arn) from None
        return _Serving(campaign, group, get_recipe(version.body["recipeArn"]), model, (str(path), stamp), datasets)

    def filter_for(self, serving: _Serving, filter_arn: str | None, *, related: bool,
                   what: str = "filterArn") -> tuple[ParsedFilter | None, FilterContext | None]:
        if not filter_arn:
            return None, None
        with self.transaction() as txn:
            flt = self.get(txn, filter_arn, "filter")
        if flt.status != "ACTIVE":
            raise invalid(f"The filter {filter_arn} ({what}) is not ACTIVE (status: {flt.status}).")
        if flt.parent != serving.group:
            raise invalid(f"The filter {filter_arn} belongs to another dataset group than the campaign.")
        try:
            parsed = parse_filter(flt.body["filterExpression"])
        except FilterExpressionError as e:
            raise invalid(str(e)) from None
        if parsed.target != "ItemID":
            raise invalid(f"The filter {filter_arn} filters {parsed.target}s; recommendations need an ItemID filter.")
        if parsed.uses_current_item and not related:
            raise invalid(f"CurrentItem filters apply only to related-items recipes; {serving.recipe.name} is not one.")
        ctx = self.context(serving)
        if ctx.interactions is None:
            raise invalid(f"Dataset group {serving.group} has no item interactions data to filter with.")
        return parsed, ctx

    def context(self, serving: _Serving) -> FilterContext:
        """The group's data in the model's catalogue order, rebuilt when a dataset file changes."""
        stamps = []
        for arn, kind, schema in serving.datasets:
            path = self.data.dataset_path(arn)
            stat = path.stat() if path.exists() else None
            stamps.append((arn, kind, schema, stat and (stat.st_mtime_ns, stat.st_size)))
        key = (str(self.root), serving.group, serving.model_key, tuple(stamps))
        with _lock:
            ctx = _contexts.get(key)
        if ctx is None:
            from recsys_assets.engine.worker import group_frames  # the batch job's reading of the group

            frames = group_frames(self.catalog, self.data, serving.group)
            ctx = FilterContext(item_ids=serving.model.item_ids, **frames)
            with _lock:
                _contexts[key] = ctx
                while len(_contexts) > _CACHE_SIZE:
                    _contexts.popitem(last=False)
        return ctx


def _num_results(p: dict, metadata: bool) -> int:
    n = p.get("numResults", DEFAULT_NUM_RESULTS)
    limit = MAX_NUM_RESULTS_WITH_METADATA if metadata else MAX_NUM_RESULTS
    if not 1 <= n <= limit:
        raise invalid(f"numResults must be between 1 and {limit}"
                      f"{' when metadataColumns are requested' if metadata else ''}; got {n}.")
    return n


def _check_id(value, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= ID_MAX_CHARS:
        raise invalid(f"{name} must be a string of 1 to {ID_MAX_CHARS} characters.")
    return value


def _resolve_values(parsed: ParsedFilter | None, values: dict | None, what: str) -> None:
    if parsed is not None:
        try:
            parsed.resolve_values(values)
        except ValueError as e:
            raise invalid(f"{what}: {e}") from None


def _metadata(svc: LocalRuntime, serving: _Serving, p: dict):
    """(columns, items frame indexed by ITEM_ID) for metadataColumns, or None."""
    requested = p.get("metadataColumns")
    if not requested:
        return None
    config = serving.campaign.body.get("campaignConfig") or {}
    if not config.get("enableMetadataWithRecommendations"):
        raise invalid(f"Campaign {serving.campaign.arn} was not created with enableMetadataWithRecommendations; "
                      "metadataColumns can't be returned.")
    if set(requested) != {"ITEMS"}:
        raise invalid(f"metadataColumns takes the ITEMS dataset's columns; got {', '.join(sorted(requested))}.")
    items = svc.context(serving).items
    columns = list(requested["ITEMS"])
    missing = [c for c in columns if items is None or c not in items.columns or c == "ITEM_ID"]
    if missing:
        raise invalid(f"metadataColumns names columns the Items dataset has no field for: {', '.join(missing)}.")
    return columns, items.assign(ITEM_ID=items["ITEM_ID"].astype(str)).drop_duplicates(
        "ITEM_ID", keep="last").set_index("ITEM_ID")


def _with_metadata(entry: dict, meta) -> dict:
    if meta is not None:
        columns, frame = meta
        row = frame.loc[entry["itemId"]] if entry["itemId"] in frame.index else None
        entry["metadata"] = {c: ("" if row is None or _missing(row[c]) else str(row[c])) for c in columns}
    return entry


def _missing(value) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return value is None


def _entries(model: Model, items, scores, meta) -> list[dict]:
    out = []
    for i, index in enumerate(items):
        if index < 0:
            continue
        entry = {"itemId": str(model.item_ids[index])}
        if scores is not None and not np.isnan(scores[i]):
            entry["score"] = round(float(scores[i]), SCORE_DECIMALS)
        out.append(_with_metadata(entry, meta))
    return out


def get_recommendations(svc: LocalRuntime, p: dict) -> dict:
    serving = svc.serving(p.get("campaignArn"), p.get("recommenderArn"))
    recipe = serving.recipe
    if recipe.recipe_type == "PERSONALIZED_RANKING":
        raise invalid(f"Campaign {serving.campaign.arn} deploys a PERSONALIZED_RANKING solution; "
                      "use GetPersonalizedRanking.")
    related = recipe.recipe_type == "RELATED_ITEMS"
    key = _check_id(p.get("itemId") if related else p.get("userId"), "itemId" if related else "userId")
    # Trending-Now has no batch input but answers users in real time, as the user recipes do.
    scoring_recipe = recipe if recipe.batch_input else dataclasses.replace(recipe, batch_input="userId")
    meta = _metadata(svc, serving, p)
    n = _num_results(p, meta is not None)
    parsed, ctx = svc.filter_for(serving, p.get("filterArn"), related=related)
    _resolve_values(parsed, p.get("filterValues"), "filterValues")
    promotion = (p.get("promotions") or [None])[0]
    promoted = []
    if promotion is not None:
        if not promotion.get("filterArn"):
            raise invalid("A promotion needs a filterArn: the filter that selects the promoted items.")
        if not promotion.get("name") or promotion.get("percentPromotedItems") is None:
            raise invalid("A promotion needs a name and percentPromotedItems.")
        p_parsed, p_ctx = svc.filter_for(serving, promotion["filterArn"], related=related, what="promotion")
        _resolve_values(p_parsed, promotion.get("filterValues"), "promotion filterValues")
        share = n * promotion["percentPromotedItems"] // 100
        if share:
            items, scores = _answer(_Scorer(serving.model, scoring_recipe, share, p_parsed, p_ctx), key,
                                    promotion.get("filterValues"))
            promoted = [dict(e, promotionName=promotion["name"])
                        for e in _entries(serving.model, items, scores, meta)]
    items, scores = _answer(_Scorer(serving.model, scoring_recipe, n + len(promoted), parsed, ctx), key,
                            p.get("filterValues"))
    taken = {e["itemId"] for e in promoted}
    rest = [e for e in _entries(serving.model, items, scores, meta) if e["itemId"] not in taken]
    rest = rest[:n - len(promoted)]
    if promoted:
        # "promoted items are positioned randomly relative to other recommended items, but in sorted
        # order relative to other promoted items" [DG:promoting-items]
        slots = sorted(np.random.default_rng().choice(len(rest) + len(promoted), len(promoted), replace=False))
        merged, rest_iter, promo_iter = [], iter(rest), iter(promoted)
        for position in range(len(rest) + len(promoted)):
            merged.append(next(promo_iter) if position in slots else next(rest_iter))
        rest = merged
    return {"itemList": rest, "recommendationId": _recommendation_id()}


def _answer(scorer: _Scorer, key: str, filter_values: dict | None):
    items, scores = scorer.one(key, filter_values)
    return items[0], (scores[0] if scores is not None else None)


def get_personalized_ranking(svc: LocalRuntime, p: dict) -> dict:
    serving = svc.serving(p["campaignArn"])
    if serving.recipe.recipe_type != "PERSONALIZED_RANKING":
        raise invalid(f"Campaign {serving.campaign.arn} deploys a {serving.recipe.recipe_type} solution; "
                      "GetPersonalizedRanking needs a PERSONALIZED_RANKING one (use GetRecommendations).")
    user = _check_id(p["userId"], "userId")
    listed = p["inputList"]
    if not 1 <= len(listed) <= MAX_RANKING_ITEMS:
        raise invalid(f"inputList must have 1 to {MAX_RANKING_ITEMS} items; got {len(listed)}.")
    for item in listed:
        _check_id(item, "Each inputList item")
    meta = _metadata(svc, serving, p)
    if meta is not None and len(listed) > MAX_NUM_RESULTS_WITH_METADATA:
        raise invalid(f"With metadataColumns, inputList can have at most {MAX_NUM_RESULTS_WITH_METADATA} items.")
    parsed, ctx = svc.filter_for(serving, p.get("filterArn"), related=False)
    _resolve_values(parsed, p.get("filterValues"), "filterValues")
    ((items, scores),) = _Scorer(serving.model, serving.recipe, len(listed), parsed, ctx).one(
        user, p.get("filterValues"), list(listed))
    ranking = []
    for i, item in enumerate(items):
        entry = {"itemId": item}
        if scores is not None:
            entry["score"] = round(float(scores[i]), SCORE_DECIMALS)
        ranking.append(_with_metadata(entry, meta))
    return {"personalizedRanking": ranking, "recommendationId": _recommendation_id()}


def _recommendation_id() -> str:
    return f"RID-{uuid.uuid4()}"  # 40 characters: PutEvents' recommendationId maximum


OPERATIONS = {
    "GetRecommendations": get_recommendations,
    "GetPersonalizedRanking": get_personalized_ranking,
}

LocalRuntime.operations = OPERATIONS
