import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from recsys_assets.engine.batch import (
    BatchNotSupported,
    check_recipe,
    input_uris,
    output_uri,
    _read_line,
    answer_batch_inputs,
)
from recsys_assets.engine.filter_evaluation import FilterContext
from recsys_assets.personalize_rules.filter_grammar import parse_filter
from recsys_assets.personalize_rules.limits import MAX_NUM_RESULTS
from recsys_assets.storage import LocalObjectStore

CATALOGUE = np.array([f"item{i}" for i in range(600)], dtype=object)


class FakeModel:
    """Ranks the catalogue in order (item0 best) for every user and item, with scores falling from 1 to 0;
    honours the allowed mask like the real models. Unknown items ("unknown*") rank as popular items do."""

    recipe_arn = "arn:aws:personalize:::recipe/fake"

    def __init__(self, has_scores: bool):
        self.item_ids = CATALOGUE
        self.has_scores = has_scores
        self.calls: list[int] = []
        self._scores = np.linspace(1, 0, len(CATALOGUE), dtype=np.float32)

    def item_index(self, item_ids):
        return pd.Index(self.item_ids).get_indexer(item_ids)

    def top_items(self, user_ids, num_results, allowed=None):
        self.calls.append(len(user_ids))
        items = np.full((len(user_ids), num_results), -1, dtype=np.int32)
        for u in range(len(user_ids)):
            ranked = [i for i in range(len(CATALOGUE)) if allowed is None or allowed[u, i]][:num_results]
            items[u, :len(ranked)] = ranked
        scores = np.where(items >= 0, self._scores[items], np.nan) if self.has_scores else None
        return items, scores

    def top_similar(self, item_ids, num_results, allowed=None):
        return self.top_items(item_ids, num_results, allowed)[0]

    def rank(self, user_ids, item_lists):
        self.calls.append(len(user_ids))
        out = []
        for items in item_lists:
            known = sorted((self.item_index([i])[0], i) for i in items if self.item_index([i])[0] >= 0)
            weights = np.array([self._scores[p] for p, _ in known]) + 1
            out.append(([i for _, i in known] + [i for i in items if self.item_index([i])[0] < 0],
                        list(weights / weights.sum()) + [0.0] * sum(self.item_index([i])[0] < 0 for i in items)))
        return out


@dataclass(frozen=True)
class FakeRecipe:
    name: str
    arn: str
    recipe_type: str
    batch_input: str | None
    has_scores: bool


UP = FakeRecipe("aws-user-personalization", "arn:aws:personalize:::recipe/aws-user-personalization", "USER_PERSONALIZATION", "userId", True)
POPULARITY = FakeRecipe("aws-popularity-count", "arn:aws:personalize:::recipe/aws-popularity-count", "USER_PERSONALIZATION", "userId", False)
RANKING = FakeRecipe("aws-personalized-ranking-v2", "arn:aws:personalize:::recipe/aws-personalized-ranking-v2", "PERSONALIZED_RANKING", "userId+itemList", True)
SIMS = FakeRecipe("aws-sims", "arn:aws:personalize:::recipe/aws-sims", "RELATED_ITEMS", "itemId", False)
TRENDING = FakeRecipe("aws-trending-now", "arn:aws:personalize:::recipe/aws-trending-now", "USER_PERSONALIZATION", None, False)


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path)


def put(store, uri, lines):
    store.write_bytes(uri, "".join(line + "\n" for line in lines).encode())


def read_lines(store, uri):
    return [json.loads(line) for line in store.read_bytes(uri).decode().splitlines()]


def run(store, recipe=UP, model=None, **kwargs):
    kwargs.setdefault("input_path", "s3://b/in/")
    kwargs.setdefault("output_path", "s3://b/out/")
    return answer_batch_inputs(store, model or FakeModel(recipe.has_scores), recipe, **kwargs)


def test_user_personalization_output_format(store):
    put(store, "s3://b/in/users.json", ['{"userId": "4638"}'])
    assert run(store, num_results=3) == {"input_files": 1, "records": 1, "error_records": 0}
    # Compact, as the service writes it; scores with 7 decimals.
    assert store.read_bytes("s3://b/out/users.json.out").decode() == (
        '{"input":{"userId":"4638"},"output":{"recommendedItems":["item0","item1","item2"],'
        '"scores":[1.0000000,0.9983305,0.9966611]},"error":null}\n'
    )


def test_popularity_output_has_no_scores(store):
    put(store, "s3://b/in/users.json", ['{"userId": "12"}'])
    run(store, recipe=POPULARITY, num_results=2)
    assert read_lines(store, "s3://b/out/users.json.out") == [
        {"input": {"userId": "12"}, "output": {"recommendedItems": ["item0", "item1"]}, "error": None}
    ]


def test_default_is_25_results_and_500_is_the_maximum(store):
    put(store, "s3://b/in/users.json", ['{"userId": "1"}'])
    run(store)
    assert len(read_lines(store, "s3://b/out/users.json.out")[0]["output"]["recommendedItems"]) == 25
    run(store, num_results=MAX_NUM_RESULTS)
    assert len(read_lines(store, "s3://b/out/users.json.out")[0]["output"]["recommendedItems"]) == 500


@pytest.mark.parametrize("num_results", [0, -1, 501, 2.5, True])
def test_num_results_bounds(store, num_results):
    put(store, "s3://b/in/users.json", ['{"userId": "1"}'])
    with pytest.raises(ValueError, match="numResults must be an integer from 1 to 500"):
        run(store, num_results=num_results)
    assert not store.exists("s3://b/out/users.json.out")


def test_one_output_line_per_input_line_with_error_lines(store):
    lines = [
        '{"userId": "a"}',
        "not json",
        "",
        '["userId", "b"]',
        '{"itemId": "105"}',
        '{"userId": 17}',
        '{"userId": "' + "x" * 257 + '"}',
        "   ",
        '{"userId": "b", "extra": 1}',
    ]
    put(store, "s3://b/in/users.json", lines)
    model = FakeModel(True)
    assert run(store, model=model, num_results=1) == {"input_files": 1, "records": 7, "error_records": 5}
    out = read_lines(store, "s3://b/out/users.json.out")
    assert [o["input"] for o in out] == [
        {"userId": "a"}, "not json", ["userId", "b"], {"itemId": "105"}, {"userId": 17},
        {"userId": "x" * 257}, {"userId": "b", "extra": 1},
    ]
    assert [o["error"] for o in out] == [
        None,
        "User error: Input line is not valid JSON: Expecting value",
        "User error: Each input line must be a JSON object",
        "User error: Required fields for the provided recipe are userId",
        "User error: userId must be a string of 1 to 256 characters",
        "User error: userId must be a string of 1 to 256 characters",
        None,
    ]
    assert [o["output"] for o in out if o["error"]] == [{"recommendedItems": []}] * 5
    assert out[0]["output"] == out[-1]["output"] == {"recommendedItems": ["item0"], "scores": [1.0]}
    assert store.read_bytes("s3://b/out/users.json.out").decode().splitlines()[1] == (
        '{"input":"not json","output":{"recommendedItems":[]},"error":"User error: Input line is not valid JSON: Expecting value"}')
    assert model.calls == [2]  # error lines never reach the model


class ListModel(FakeModel):
    """Answers given per-user lists (catalogue indices) and scores, from an awkward catalogue."""

    def __init__(self, lists: dict[str, list[int]], has_scores: bool):
        super().__init__(has_scores)
        self.item_ids = np.array(['plain', 'quote"d', "back\\slash", "ünï-cödé", "tab\tnew\nline", "x" * 256], dtype=object)
        self.lists = lists

    def top_items(self, user_ids, num_results, allowed=None):
        items = np.full((len(user_ids), num_results), -1, dtype=np.int32)
        for row, user in enumerate(user_ids):
            ranked = self.lists[user][:num_results]
            items[row, :len(ranked)] = ranked
        scores = np.where(items >= 0, 1.0 / (items + 2), np.nan).astype(np.float32) if self.has_scores else None
        return items, scores


@pytest.mark.parametrize("recipe", [UP, POPULARITY])
def test_rendered_lines_are_the_compact_json_of_the_answers(store, recipe):
    lists = {"full": [5, 0, 1, 2], "short": [3, 4], "none": [], "one": [1]}
    model = ListModel(lists, recipe.has_scores)
    lines = ['{"userId": "full"}', "broken", '{"userId": "short", "note": "é"}', '{"userId": "none"}',
             '{"userId": 3}', '{"userId": "one"}']
    put(store, "s3://b/in/users.json", lines)
    run(store, recipe=recipe, model=model, num_results=4, block_size=4)
    written = store.read_bytes("s3://b/out/users.json.out").decode().splitlines()
    assert len(written) == len(lines)
    for text, line in zip(written, lines):
        parsed = json.loads(text)
        if parsed["error"] is not None:
            assert parsed["output"] == {"recommendedItems": []}
            continue
        ranked = lists[parsed["input"]["userId"]]
        output = {"recommendedItems": [model.item_ids[i] for i in ranked]}
        if recipe.has_scores:
            output["scores"] = [round(float(np.float32(1.0 / (i + 2))), 7) for i in ranked]
        assert parsed == {"input": json.loads(line), "output": output, "error": None}
        # Compact, as the service writes it (the scores' text is checked by test_score_cells_...).
        compact = json.dumps({"input": json.loads(line), "output": {"recommendedItems": output["recommendedItems"]}},
                             ensure_ascii=False, separators=(",", ":"))
        assert text.startswith(compact[:-2])


def test_blocks_keep_order_and_bound_the_model_calls(store):
    lines = [json.dumps({"userId": str(i)}) if i % 3 else "oops" for i in range(11)]
    put(store, "s3://b/in/users.json", lines)
    model = FakeModel(False)
    run(store, recipe=POPULARITY, model=model, num_results=1, block_size=4)
    out = read_lines(store, "s3://b/out/users.json.out")
    assert [o["input"] for o in out] == [json.loads(line) if line != "oops" else "oops" for line in lines]
    assert [o["error"] is None for o in out] == [bool(i % 3) for i in range(11)]
    assert max(model.calls) <= 4 and sum(model.calls) == 7


def test_prefix_semantics_and_out_naming(store):
    for uri in ["s3://b/folderName/a.json", "s3://b/folderName_test/b.json", "s3://b/other/c.json", "s3://b/folderName/sub/d.json"]:
        put(store, uri, ['{"userId": "1"}'])
    assert input_uris(store, "s3://b/folderName") == [
        "s3://b/folderName/a.json", "s3://b/folderName/sub/d.json", "s3://b/folderName_test/b.json",
    ]
    assert input_uris(store, "s3://b/folderName/") == ["s3://b/folderName/a.json", "s3://b/folderName/sub/d.json"]
    assert input_uris(store, "s3://b/folderName/a.json") == ["s3://b/folderName/a.json"]

    result = run(store, recipe=POPULARITY, input_path="s3://b/folderName", output_path="s3://b/results")
    assert result == {"input_files": 3, "records": 3, "error_records": 0}
    assert store.list("s3://b/results/") == [
        "s3://b/results/a.json.out", "s3://b/results/b.json.out", "s3://b/results/d.json.out",
    ]


class ConsoleFolderStore(LocalObjectStore):
    """Lists like S3 after the console's "Create folder": a zero-byte ``in/`` marker object beside the files."""

    def list(self, prefix_uri):
        return sorted(super().list(prefix_uri) + [m for m in ["s3://b/in/"] if m.startswith(prefix_uri)])


def test_s3_folder_markers_are_not_input_files(tmp_path):
    store = ConsoleFolderStore(tmp_path)
    put(store, "s3://b/in/users.json", ['{"userId": "1"}'])
    assert input_uris(store, "s3://b/in") == ["s3://b/in/users.json"]
    assert run(store, recipe=POPULARITY, num_results=1) == {"input_files": 1, "records": 1, "error_records": 0}


@pytest.mark.parametrize(
    "input_uri, output_path, expected",
    [
        ("s3://b/in/users.json", "s3://b/out/", "s3://b/out/users.json.out"),
        ("s3://b/in/users.json", "s3://b/out", "s3://b/out/users.json.out"),
        ("s3://b/in/deep/users", "s3://other/", "s3://other/users.out"),
    ],
)
def test_output_uri(input_uri, output_path, expected):
    assert output_uri(input_uri, output_path) == expected


def test_no_input_files(store):
    put(store, "s3://b/elsewhere/users.json", ['{"userId": "1"}'])
    with pytest.raises(ValueError, match="Invalid S3 input path: no input files found under s3://b/in/"):
        run(store)


@pytest.mark.parametrize(
    "input_path, output_path, output",
    [
        ("s3://b/input.json", "s3://b/", "s3://b/input.json.out"),  # AWS's batch notebook: output next to input
        ("s3://b/in/", "s3://b/in/", "s3://b/in/input.json.out"),
        ("s3://b/in/", "s3://b/in", "s3://b/in/input.json.out"),
        ("s3://b/in/input.json", "s3://b/in/", "s3://b/in/input.json.out"),
    ],
)
def test_output_may_sit_next_to_its_input(store, input_path, output_path, output):
    # AWS allows it (it only recommends a separate folder); the output is never read as input, even on a rerun,
    # and the input is never overwritten.
    input_uri = output.removesuffix(".out")
    put(store, input_uri, ['{"userId": "1"}', '{"userId": "2"}'])
    before = store.read_bytes(input_uri)
    for _ in range(2):
        totals = run(store, input_path=input_path, output_path=output_path)
        assert (totals["input_files"], totals["records"]) == (1, 2)
        assert [line["input"] for line in read_lines(store, output)] == [{"userId": "1"}, {"userId": "2"}]
    assert store.read_bytes(input_uri) == before
    assert sorted(u for u in store.list("s3://b/") if not u.endswith("/")) == sorted([input_uri, output])


def test_output_folder_inside_the_input_folder(store):
    put(store, "s3://b/in/users.json", ['{"userId": "1"}'])
    for _ in range(2):  # the rerun does not read the first run's output, though it is under the input prefix
        assert run(store, input_path="s3://b/in/", output_path="s3://b/in/out/")["input_files"] == 1
    assert store.list("s3://b/") == ["s3://b/in/out/users.json.out", "s3://b/in/users.json"]
    assert read_lines(store, "s3://b/in/users.json") == [{"userId": "1"}]


def test_paths_must_be_s3_uris(store):
    with pytest.raises(ValueError, match="Invalid S3 input path"):
        run(store, input_path="/tmp/in/")
    with pytest.raises(ValueError, match="Invalid S3 output path"):
        run(store, output_path="out/")


def test_input_files_sharing_a_name_are_rejected(store):
    put(store, "s3://b/in/x/users.json", ['{"userId": "1"}'])
    put(store, "s3://b/in/y/users.json", ['{"userId": "1"}'])
    with pytest.raises(ValueError, match="would both be written to s3://b/out/users.json.out"):
        run(store)


def test_trending_now_has_no_batch_inference(store):
    put(store, "s3://b/in/users.json", ['{"userId": "1"}'])
    check_recipe(UP)
    with pytest.raises(BatchNotSupported, match="not available for solution versions of recipe aws-trending-now"):
        check_recipe(TRENDING)
    with pytest.raises(BatchNotSupported):
        run(store, recipe=TRENDING)
    assert not store.exists("s3://b/out/users.json.out")


def test_personalized_ranking_format(store):
    put(store, "s3://b/in/lists.json", [
        '{"userId": "891", "itemList": ["item27", "unknown1", "item5", "item101"]}',
        '{"userId": "892"}',
        '{"userId": "893", "itemList": []}',
        '{"userId": "894", "itemList": "item1"}',
    ])
    assert run(store, recipe=RANKING, num_results=2) == {"input_files": 1, "records": 4, "error_records": 3}
    out = read_lines(store, "s3://b/out/lists.json.out")
    # The whole list comes back reranked (numResults does not cut it), unknown items last.
    assert out[0]["output"]["recommendedItems"] == ["item5", "item27", "item101", "unknown1"]
    assert sum(out[0]["output"]["scores"]) == pytest.approx(1.0, abs=1e-6) and out[0]["output"]["scores"][-1] == 0.0
    assert [o["error"] for o in out[1:]] == [
        "User error: Required fields for the provided recipe are userId, itemList",
        "User error: itemList must be a list of 1 to 500 item id strings",
        "User error: itemList must be a list of 1 to 500 item id strings",
    ]


def test_personalized_ranking_filter_drops_items(store, filter_ctx):
    put(store, "s3://b/in/lists.json", ['{"userId": "u2", "itemList": ["item3", "item2", "item1", "unknown1"]}'])
    filter_ = parse_filter('EXCLUDE ItemID WHERE Items.GENRE IN ("horror")')
    run(store, recipe=RANKING, filter_=filter_, filter_ctx=filter_ctx)
    assert read_lines(store, "s3://b/out/lists.json.out")[0]["output"]["recommendedItems"] == ["item2", "unknown1"]


def test_related_items_format(store):
    put(store, "s3://b/in/items.json", ['{"itemId": "105"}', '{"userId": "1"}', '{"itemId": ""}'])
    assert run(store, recipe=SIMS, num_results=3) == {"input_files": 1, "records": 3, "error_records": 2}
    out = store.read_bytes("s3://b/out/items.json.out").decode().splitlines()
    assert out[0] == '{"input":{"itemId":"105"},"output":{"recommendedItems":["item0","item1","item2"]},"error":null}'
    assert [json.loads(line)["error"] for line in out[1:]] == [
        "User error: Required fields for the provided recipe are itemId",
        "User error: itemId must be a string of 1 to 256 characters",
    ]


def test_related_items_filters_see_the_current_item(store, filter_ctx):
    put(store, "s3://b/in/items.json", ['{"itemId": "item1"}', '{"itemId": "item2"}'])
    filter_ = parse_filter("INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)")
    run(store, recipe=SIMS, num_results=3, filter_=filter_, filter_ctx=filter_ctx)
    assert [o["output"]["recommendedItems"] for o in read_lines(store, "s3://b/out/items.json.out")] == [
        ["item1", "item3", "item5"], ["item0", "item2", "item4"]]


@pytest.fixture
def filter_ctx():
    interactions = pd.DataFrame(
        {"USER_ID": ["u1", "u1", "u2"], "ITEM_ID": ["item0", "item1", "item2"], "TIMESTAMP": [1, 2, 3], "EVENT_TYPE": "purchase"}
    )
    items = pd.DataFrame({"ITEM_ID": CATALOGUE, "GENRE": ["horror" if i % 2 else "comedy" for i in range(len(CATALOGUE))]})
    return FilterContext(item_ids=CATALOGUE, interactions=interactions, items=items)


def test_filter_applies_before_truncation(store, filter_ctx):
    put(store, "s3://b/in/users.json", ['{"userId": "u1"}', '{"userId": "u2"}', '{"userId": "new"}'])
    filter_ = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    run(store, num_results=2, filter_=filter_, filter_ctx=filter_ctx)
    out = read_lines(store, "s3://b/out/users.json.out")
    # Still two items each: the filter removed purchases before the top 2 were taken.
    assert [o["output"]["recommendedItems"] for o in out] == [["item2", "item3"], ["item0", "item1"], ["item0", "item1"]]


def test_filter_values_per_line(store, filter_ctx):
    put(
        store,
        "s3://b/in/users.json",
        [
            '{"userId": "u1", "filterValues": {"GENRE": "\\"horror\\""}}',
            '{"userId": "u2"}',
            '{"userId": "u3", "filterValues": {"GENRE": "horror"}}',
            '{"userId": "u4", "filterValues": {"GENRE": "\\"comedy\\""}}',
        ],
    )
    filter_ = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)')
    result = run(store, recipe=POPULARITY, num_results=2, filter_=filter_, filter_ctx=filter_ctx)
    assert result == {"input_files": 1, "records": 4, "error_records": 2}
    out = read_lines(store, "s3://b/out/users.json.out")
    assert out[0]["output"]["recommendedItems"] == ["item1", "item3"]
    assert out[1]["error"] == (
        "User error: Missing filter value for $GENRE: INCLUDE expressions need a value for every placeholder"
    )
    assert out[2]["error"].startswith("User error: Invalid filter value for $GENRE")
    assert out[2]["input"] == {"userId": "u3", "filterValues": {"GENRE": "horror"}}
    assert out[3]["output"]["recommendedItems"] == ["item0", "item2"]


def test_filter_needs_the_models_catalogue(store, filter_ctx):
    put(store, "s3://b/in/users.json", ['{"userId": "u1"}'])
    filter_ = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    with pytest.raises(ValueError, match="a filter needs filter_ctx"):
        run(store, filter_=filter_)
    shuffled = FilterContext(item_ids=CATALOGUE[::-1], interactions=filter_ctx.interactions)
    with pytest.raises(ValueError, match="the model's catalogue, in the model's order"):
        run(store, filter_=filter_, filter_ctx=shuffled)


@pytest.mark.parametrize("text", ['{"userId": "a"}', '{ "userId" :"ü-x y" }', '{"userId":"a\\"b"}', '{"userId": "a\\u0041"}',
                                  '{"userId": "a", "filterValues": {}}', '{"itemId": "i"}', '{"userId": ""}',
                                  '{"userId": "' + "x" * 257 + '"}', '{"userId":\f"a"}'])
def test_plain_lines_read_as_the_json_parser_reads_them(text):
    line = _read_line(text, "userId", None)
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        assert line.error.startswith("User error: Input line is not valid JSON")
        return
    assert line.echo == json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    valid = set(record) >= {"userId"} and 1 <= len(record["userId"]) <= 256
    assert (line.key, line.error is None) == ((record["userId"], True) if valid else (None, False))
