"""The engine's compiled loops, against plain numpy and json."""

import json

import numpy as np
import pytest

from recsys_assets.engine.kernels import log_sum_exp, render_lines, top_k


def test_top_k_orders_by_key_then_column():
    keys = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, -0.0, -np.inf, 5.0, 0.0]], dtype=np.float32)
    columns, values = top_k(keys, 3)
    assert columns.tolist() == [[1, 2, 4], [3, 0, 1]]
    assert values.tolist() == [[3.0, 3.0, 3.0], [5.0, 0.0, 0.0]]
    columns, values = top_k(keys, 5)
    assert columns[1, :4].tolist() == [3, 0, 1, 4] and values[1, -1] == -np.inf  # -inf is never chosen
    assert top_k(keys, 0)[0].shape == (2, 0)


@pytest.mark.parametrize("k", [1, 7, 50, 300])
def test_top_k_matches_a_full_sort(k):
    # Wide rows (grouped bound), few distinct values (ties everywhere), masked keys, a row of ties only
    # and rows with fewer than k unmasked keys.
    rng = np.random.default_rng(k)
    keys = rng.integers(0, 40, size=(60, 1200)).astype(np.float32)
    keys[rng.random(keys.shape) < 0.2] = -np.inf
    keys[5] = 1.0
    keys[6, 3:] = -np.inf
    keys[7] = -np.inf
    columns, values = top_k(keys, k)
    # A reused work buffer holds the previous call's candidates: they must not leak into this one.
    work = np.full((70, 1300), 12345, dtype=np.uint64)
    top_k(keys[::-1], k, work)
    assert [a.tolist() for a in top_k(keys, k, work)] == [columns.tolist(), values.tolist()]
    for row in range(len(keys)):
        order = np.lexsort((np.arange(keys.shape[1]), -keys[row]))[:k]
        found = keys[row, order] > -np.inf
        assert values[row].tolist() == keys[row, order].tolist()
        assert columns[row][found].tolist() == order[found].tolist()


def test_render_lines_writes_seven_decimals_and_joins_ids():
    item_text = [b'"a"', b'"b\\""', b'"\xc3\xa9t\xc3\xa9"']
    scores = np.array([[1.0, 0.5, 0.01234567, 0.0], [1e-9, 0.3333333, np.nan, np.nan], [0.5, 0.0, 0.0, 0.0]],
                      dtype=np.float32)
    items = np.array([[2, 0, 1, 0], [1, 2, -1, -1], [-1, -1, -1, -1]], dtype=np.int32)
    echo = [b'{"userId":"u1"}', b'{"userId":"u2"}', b'{"userId":""}']
    args = (b"".join(echo), np.cumsum([0] + [len(e) for e in echo]), items, np.array([4, 2, 0]))
    offsets = np.cumsum([0] + [len(t) for t in item_text])
    text, ends = render_lines(*args, scores, np.frombuffer(b"".join(item_text), dtype=np.uint8), offsets)
    lines = bytes(text).decode().splitlines(keepends=True)
    assert [len(line.encode()) for line in lines] == np.diff(np.r_[0, ends]).tolist()
    assert lines == [
        '{"input":{"userId":"u1"},"output":{"recommendedItems":["\xe9t\xe9","a","b\\"","a"],'
        '"scores":[1.0000000,0.5000000,0.0123457,0.0000000]},"error":null}\n',
        '{"input":{"userId":"u2"},"output":{"recommendedItems":["b\\"","\xe9t\xe9"],"scores":[0.0000000,0.3333333]},'
        '"error":null}\n',
        '{"input":{"userId":""},"output":{"recommendedItems":[],"scores":[]},"error":null}\n',
    ]
    text, _ = render_lines(*args, None, np.frombuffer(b"".join(item_text), dtype=np.uint8), offsets)
    assert bytes(text).decode().splitlines()[1] == '{"input":{"userId":"u2"},"output":{"recommendedItems":["b\\"","\xe9t\xe9"]},"error":null}'
    assert [json.loads(line) for line in bytes(text).decode().splitlines()][0]["output"]["recommendedItems"] == ["\xe9t\xe9", "a", 'b"', "a"]


def test_log_sum_exp_matches_float64_numpy():
    rng = np.random.default_rng(0)
    keys = np.concatenate([
        rng.normal(0, 3, size=(20, 1000)),  # typical softmax keys
        rng.normal(0, 300, size=(5, 1000)),  # most values far below the maximum (they underflow)
        np.full((1, 1000), 7.5),  # all equal: log(1000) above the key
    ]).astype(np.float32)
    keys[3, 17] = 50.0  # one dominant key
    top = keys.max(axis=1)
    expected = np.log(np.exp(keys.astype(np.float64) - top[:, None]).sum(axis=1)) + top
    got = log_sum_exp(keys, top)
    assert got.shape == (len(keys), 1) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0], expected, rtol=2e-7, atol=2e-6)
    assert got[-1, 0] == pytest.approx(7.5 + np.log(1000), abs=1e-5)
    # A single column: the key itself.
    assert log_sum_exp(keys[:, :1], keys[:, 0])[:, 0].tolist() == keys[:, 0].tolist()
