"""Contract tests of ``personalize-runtime`` (GetRecommendations, GetPersonalizedRanking) against the local
engine's campaigns, through a real boto3 client, and of the real-time campaign's price in the cost model.

Solution versions are inserted (``insert_version``) with a small hand-made model saved where training would
write it, so the expected rankings are known: user ``u0`` prefers items ``i0 > i1 > ...``.
"""

from __future__ import annotations

import time

import botocore.exceptions
import numpy as np
import pytest
import scipy.sparse as sp

from recsys_assets.engine.data import DataStore
from recsys_assets.engine.models import FactorModel, PopularityModel, RelatedItemsModel
from recsys_assets.engine.transport import local_events_client, local_runtime_client
from recsys_assets.workflow.cost import LIST_PRICES, PriceTable, Tiers, campaign_cost

from .contract import UP_V2, error_message, insert_version, make_dataset, make_group, make_solution

RANKING = "arn:aws:personalize:::recipe/aws-personalized-ranking"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
ITEMS = [f"i{j}" for j in range(20)]
USERS = [f"u{i}" for i in range(5)]


def save_model(engine_root, version_arn: str, recipe: str = UP_V2):
    common = dict(recipe_arn=recipe, item_ids=ITEMS, user_ids=USERS,
                  seen=sp.csr_matrix((len(USERS), len(ITEMS)), dtype=bool),
                  popularity=np.arange(len(ITEMS), 0, -1, dtype=np.float32), hyperparameters={})
    if recipe == SIMS:
        # i0's neighbours: i5 > i6 > i7
        sim = sp.csr_matrix(([0.9, 0.8, 0.7], ([0, 0, 0], [5, 6, 7])), shape=(len(ITEMS), len(ITEMS)))
        model = RelatedItemsModel(similarity=sim, has_scores=False, **common)
    elif recipe == POPULARITY:
        model = PopularityModel(item_scores=common["popularity"], has_scores=False, **common)
    else:
        # u0 likes i0 most, then i1, ...; u1 the reverse.
        user_factors = np.array([[1.0], [-1.0], [0.5], [0.0], [0.2]], dtype=np.float32)
        item_factors = np.linspace(1.0, -1.0, len(ITEMS), dtype=np.float32)[:, None]
        model = FactorModel(user_factors=user_factors, item_factors=item_factors, has_scores=True, **common)
    path = DataStore(engine_root).model_path(version_arn)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


@pytest.fixture
def runtime(engine_root, object_store):
    return local_runtime_client(engine_root, object_store.config(), max_attempts=1)


@pytest.fixture
def events(engine_root, object_store):
    return local_events_client(engine_root, object_store.config(), max_attempts=1)


def deploy(personalize, engine_root, recipe: str = UP_V2, name: str = "recs", group: str | None = None,
           datasets=("interactions", "items"), **campaign):
    group = group or make_group(personalize, name=f"shop-{name}")
    for kind in datasets:
        make_dataset(personalize, group, kind)
    solution = make_solution(personalize, group, name=name, recipe=recipe)
    version = insert_version(engine_root, solution, group, recipe=recipe)
    save_model(engine_root, version, recipe)
    arn = personalize.create_campaign(name=name, solutionVersionArn=version, **campaign)["campaignArn"]
    assert personalize.describe_campaign(campaignArn=arn)["campaign"]["status"] == "ACTIVE"
    return group, solution, version, arn


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# ---- GetRecommendations ----------------------------------------------------------------------------


def test_user_recommendations_are_the_models_ranking_with_scores(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root)
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=5)
    assert [i["itemId"] for i in answer["itemList"]] == ITEMS[:5]
    scores = [i["score"] for i in answer["itemList"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) < 1  # shares of the whole catalogue
    assert answer["recommendationId"].startswith("RID-")
    assert [i["itemId"] for i in runtime.get_recommendations(campaignArn=campaign, userId="u1",
                                                             numResults=3)["itemList"]] == ITEMS[::-1][:3]
    assert len(runtime.get_recommendations(campaignArn=campaign, userId="u0")["itemList"]) == 20  # default 25


def test_an_unknown_user_gets_popular_items(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root)
    answer = runtime.get_recommendations(campaignArn=campaign, userId="somebody-new", numResults=3)
    assert [i["itemId"] for i in answer["itemList"]] == ["i0", "i1", "i2"]  # popularity falls with the index


def test_answers_are_the_batch_jobs(personalize, runtime, engine_root):
    """The same per-user scoring as batch inference: Model.top_items on the same model."""
    *_, version, campaign = deploy(personalize, engine_root)
    from recsys_assets.engine.models import Model

    model = Model.load(DataStore(engine_root).model_path(version))
    items, scores = model.top_items(["u2"], 7)
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u2", numResults=7)["itemList"]
    assert [i["itemId"] for i in answer] == model.item_ids[items[0]].tolist()
    assert [i["score"] for i in answer] == pytest.approx(scores[0].tolist(), abs=1e-7)


def test_related_items_and_popularity_recipes(personalize, runtime, engine_root):
    *_, sims = deploy(personalize, engine_root, recipe=SIMS, name="sims")
    answer = runtime.get_recommendations(campaignArn=sims, itemId="i0", numResults=4)["itemList"]
    assert [i["itemId"] for i in answer] == ["i5", "i6", "i7", "i1"]  # neighbours, then popular items
    assert all("score" not in i for i in answer)  # SIMS has no scores
    with pytest.raises(botocore.exceptions.ClientError) as e:
        runtime.get_recommendations(campaignArn=sims, userId="u0")
    assert code(e) == "InvalidInputException" and "itemId" in error_message(e)
    *_, popular = deploy(personalize, engine_root, recipe=POPULARITY, name="pop")
    assert [i["itemId"] for i in runtime.get_recommendations(campaignArn=popular, userId="u1",
                                                             numResults=2)["itemList"]] == ["i0", "i1"]


def test_num_results_bounds(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root)
    for n in (0, 501):
        with pytest.raises(runtime.exceptions.InvalidInputException, match="numResults"):
            runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=n)
    with pytest.raises(runtime.exceptions.InvalidInputException):
        runtime.get_recommendations(campaignArn=campaign)  # a user recipe needs userId


def test_unknown_and_not_active_campaigns_are_not_found(make_personalize, runtime, engine_root, fake_clock):
    personalize = make_personalize()
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/nope",
                                    userId="u0")
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    solution = make_solution(personalize, group)
    version = insert_version(engine_root, solution, group)
    save_model(engine_root, version)
    slow = make_personalize(transition_seconds=60)
    campaign = slow.create_campaign(name="later", solutionVersionArn=version)["campaignArn"]
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="not ACTIVE"):
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    fake_clock.advance(61)
    assert runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=1)["itemList"]
    slow.delete_campaign(campaignArn=campaign)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):  # DELETE PENDING
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    fake_clock.advance(61)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="does not exist"):
        runtime.get_recommendations(campaignArn=campaign, userId="u0")


def test_recommenders_and_a_missing_campaign_arn_are_invalid(runtime):
    with pytest.raises(runtime.exceptions.InvalidInputException, match="campaignArn"):
        runtime.get_recommendations(userId="u0")
    with pytest.raises(runtime.exceptions.InvalidInputException, match="recommenders"):
        runtime.get_recommendations(recommenderArn="arn:aws:personalize:us-east-1:000000000000:recommender/r",
                                    userId="u0")


def test_the_service_models_maximums_are_checked(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="userId"):
        runtime.get_recommendations(campaignArn=campaign, userId="u" * 257)


def test_filters_apply_before_the_cut_and_see_new_events_at_once(personalize, runtime, events, engine_root):
    group, *_, campaign = deploy(personalize, engine_root)
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group)["trackingId"]
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    flt = personalize.create_filter(name="unseen", datasetGroupArn=group,
                                    filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
                                    )["filterArn"]
    events.put_events(trackingId=tracker, userId="u9", sessionId="s",
                      eventList=[{"eventType": "view", "itemId": "i3", "sentAt": time.time()}])
    first = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=3, filterArn=flt)
    assert [i["itemId"] for i in first["itemList"]] == ["i0", "i1", "i2"]
    events.put_events(trackingId=tracker, userId="u0", sessionId="s",
                      eventList=[{"eventType": "click", "itemId": "i0", "sentAt": time.time()},
                                 {"eventType": "click", "itemId": "i2", "sentAt": time.time()}])
    after = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=3, filterArn=flt)
    assert [i["itemId"] for i in after["itemList"]] == ["i1", "i3", "i4"]


def test_filter_values_and_filter_errors(personalize, runtime, events, engine_root):
    group, *_, campaign = deploy(personalize, engine_root)
    items_ds = [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
                if d["datasetType"] == "ITEMS"][0]
    events.put_items(datasetArn=items_ds, items=[
        {"itemId": f"i{j}", "properties": f'{{"categoryId": "{"red" if j % 2 else "blue"}", "price": {j}}}'}
        for j in range(10)])
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group)["trackingId"]
    assert personalize.describe_event_tracker(eventTrackerArn=personalize.list_event_trackers(
        datasetGroupArn=group)["eventTrackers"][0]["eventTrackerArn"])["eventTracker"]["status"] == "ACTIVE"
    events.put_events(trackingId=tracker, userId="u4", sessionId="s",
                      eventList=[{"eventType": "view", "itemId": "i1", "sentAt": time.time()}])
    flt = personalize.create_filter(name="colour", datasetGroupArn=group,
                                    filterExpression="INCLUDE ItemID WHERE Items.CATEGORY_ID IN ($C)")["filterArn"]
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=3, filterArn=flt,
                                         filterValues={"C": '"red"'})
    assert [i["itemId"] for i in answer["itemList"]] == ["i1", "i3", "i5"]
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn=campaign, userId="u0", filterArn=flt + "x")
    other_group = make_group(personalize, name="other")
    make_dataset(personalize, other_group, "interactions")
    foreign = personalize.create_filter(name="foreign", datasetGroupArn=other_group,
                                        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")'
                                        )["filterArn"]
    with pytest.raises(runtime.exceptions.InvalidInputException, match="another dataset group"):
        runtime.get_recommendations(campaignArn=campaign, userId="u0", filterArn=foreign)


def test_metadata_columns_need_the_campaign_setting(personalize, runtime, events, engine_root):
    group, *_, plain = deploy(personalize, engine_root, name="plain")
    items_ds = [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
                if d["datasetType"] == "ITEMS"][0]
    events.put_items(datasetArn=items_ds, items=[{"itemId": "i0", "properties": '{"categoryId": "red", "price": 2.5}'}])
    with pytest.raises(runtime.exceptions.InvalidInputException, match="enableMetadataWithRecommendations"):
        runtime.get_recommendations(campaignArn=plain, userId="u0", metadataColumns={"ITEMS": ["CATEGORY_ID"]})
    solution = make_solution(personalize, group, name="meta")
    version = insert_version(engine_root, solution, group, suffix="meta0001")
    save_model(engine_root, version)
    meta = personalize.create_campaign(name="meta", solutionVersionArn=version,
                                       campaignConfig={"enableMetadataWithRecommendations": True})["campaignArn"]
    personalize.describe_campaign(campaignArn=meta)
    answer = runtime.get_recommendations(campaignArn=meta, userId="u0", numResults=2,
                                         metadataColumns={"ITEMS": ["CATEGORY_ID", "PRICE"]})["itemList"]
    assert answer[0]["metadata"] == {"CATEGORY_ID": "red", "PRICE": "2.5"}
    assert answer[1]["metadata"] == {"CATEGORY_ID": "", "PRICE": ""}
    with pytest.raises(runtime.exceptions.InvalidInputException, match="50"):
        runtime.get_recommendations(campaignArn=meta, userId="u0", numResults=51,
                                    metadataColumns={"ITEMS": ["CATEGORY_ID"]})
    with pytest.raises(runtime.exceptions.InvalidInputException, match="NOPE"):
        runtime.get_recommendations(campaignArn=meta, userId="u0", metadataColumns={"ITEMS": ["NOPE"]})


def test_promotions_place_promoted_items_in_their_own_order(personalize, runtime, events, engine_root):
    group, *_, campaign = deploy(personalize, engine_root)
    items_ds = [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
                if d["datasetType"] == "ITEMS"][0]
    events.put_items(datasetArn=items_ds, items=[
        {"itemId": f"i{j}", "properties": '{"categoryId": "house", "price": 1}'} for j in (12, 15, 18)])
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group)["trackingId"]
    personalize.list_event_trackers()
    events.put_events(trackingId=tracker, userId="u4", sessionId="s",
                      eventList=[{"eventType": "view", "itemId": "i1", "sentAt": time.time()}])
    house = personalize.create_filter(name="house", datasetGroupArn=group,
                                      filterExpression='INCLUDE ItemID WHERE Items.CATEGORY_ID IN ("house")'
                                      )["filterArn"]
    answer = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=10, promotions=[
        {"name": "own", "percentPromotedItems": 20, "filterArn": house}])["itemList"]
    promoted = [i["itemId"] for i in answer if i.get("promotionName") == "own"]
    assert promoted == ["i12", "i15"]  # 20 % of 10, in the model's order
    assert [i["itemId"] for i in answer if "promotionName" not in i] == ITEMS[:8]


# ---- GetPersonalizedRanking ------------------------------------------------------------------------


def test_personalized_ranking_reranks_the_input_list(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root, recipe=RANKING, name="rank")
    answer = runtime.get_personalized_ranking(campaignArn=campaign, userId="u0",
                                              inputList=["i9", "new-item", "i2", "i5"])
    ranking = answer["personalizedRanking"]
    assert [i["itemId"] for i in ranking] == ["i2", "i5", "i9", "new-item"]
    assert sum(i["score"] for i in ranking) == pytest.approx(1.0, abs=1e-6) and ranking[-1]["score"] == 0
    with pytest.raises(runtime.exceptions.InvalidInputException, match="GetPersonalizedRanking"):
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    with pytest.raises(runtime.exceptions.InvalidInputException, match="inputList"):
        runtime.get_personalized_ranking(campaignArn=campaign, userId="u0", inputList=[])
    with pytest.raises(runtime.exceptions.InvalidInputException, match="inputList"):
        runtime.get_personalized_ranking(campaignArn=campaign, userId="u0", inputList=ITEMS * 26)


def test_personalized_ranking_needs_a_ranking_campaign(personalize, runtime, engine_root):
    *_, campaign = deploy(personalize, engine_root)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="PERSONALIZED_RANKING"):
        runtime.get_personalized_ranking(campaignArn=campaign, userId="u0", inputList=["i1"])
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_personalized_ranking(campaignArn=campaign + "x", userId="u0", inputList=["i1"])


# ---- deletion order with campaigns -----------------------------------------------------------------


def test_a_solution_with_a_campaign_cant_be_deleted(personalize, runtime, engine_root):
    group, solution, version, campaign = deploy(personalize, engine_root)
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="campaign/recs"):
        personalize.delete_solution(solutionArn=solution)
    personalize.delete_campaign(campaignArn=campaign)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_campaign(campaignArn=campaign)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn=campaign, userId="u0")
    personalize.delete_solution(solutionArn=solution)


# ---- the real-time campaign's price ----------------------------------------------------------------


def test_a_campaign_pays_its_min_provisioned_tps_or_the_actual_tps():
    prices = PriceTable(per_tps_hour=Tiers(((20_000, 0.2), (200_000, 0.1), (float("inf"), 0.05)), per=1))
    idle, how = campaign_cost(prices, min_provisioned_tps=1, hours=24 * 30)
    assert idle == pytest.approx(720 * 0.2) and "720 TPS-hours" in how
    busy, _ = campaign_cost(prices, min_provisioned_tps=1, hours=10, actual_tps=5)
    assert busy == pytest.approx(50 * 0.2)
    big, _ = campaign_cost(prices, min_provisioned_tps=50, hours=720)  # 36,000 TPS-hours: two tiers
    assert big == pytest.approx(20_000 * 0.2 + 16_000 * 0.1)
    assert LIST_PRICES.per_tps_hour.cost(1000) == pytest.approx(1000 * 0.2)


# ---- the pipeline's resource -----------------------------------------------------------------------


def test_the_local_resource_makes_runtime_and_events_clients_on_its_engine(tmp_path):
    from recsys_assets.resources.object_store import LocalObjectStoreResource
    from recsys_assets.resources.personalize import LocalPersonalizeResource

    resource = LocalPersonalizeResource(local_root=str(tmp_path), local_transition_seconds=0.0,
                                        object_store=LocalObjectStoreResource(local_root=str(tmp_path)))
    personalize, runtime, events = resource.get_client(), resource.get_runtime_client(), resource.get_events_client()
    assert (runtime.meta.service_model.service_name, events.meta.service_model.service_name) == (
        "personalize-runtime", "personalize-events")
    group = make_group(personalize)
    interactions = make_dataset(personalize, group, "interactions")
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group)
    personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    events.put_events(trackingId=tracker["trackingId"], userId="u", sessionId="s",
                      eventList=[{"eventType": "click", "itemId": "i", "sentAt": time.time()}])
    assert len(DataStore(tmp_path / "engine").read_dataset(interactions)) == 1  # the same engine root
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn=group.replace("dataset-group/shop", "campaign/c"), userId="u")
