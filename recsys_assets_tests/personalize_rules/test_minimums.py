"""The minimum data a solution version trains on [DG:limits]."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_assets.personalize_rules.minimums import minimum_data_problems


def interactions_of(counts: list[int]) -> pd.DataFrame:
    """One row per interaction; user i has counts[i] interactions."""
    return pd.DataFrame({"USER_ID": np.repeat([f"u{i}" for i in range(len(counts))], counts)})


def test_enough_data_has_no_problems():
    assert minimum_data_problems(interactions_of([40] * 25)) == []


def test_fewer_than_1000_interactions():
    assert minimum_data_problems(interactions_of([37] * 27)) == [
        "Create failed. Dataset has fewer than 1000 interactions (found 999)."
    ]


def test_fewer_than_25_users_with_two_interactions():
    assert minimum_data_problems(interactions_of([2] * 24 + [1] * 952)) == [
        "Create failed. Dataset has fewer than 25 users with at least 2 interactions each."
    ]


def test_exactly_25_users_with_two_interactions_pass():
    assert minimum_data_problems(interactions_of([2] * 25 + [1] * 950)) == []


def test_fewer_than_one_percent_of_users_with_two_interactions():
    assert minimum_data_problems(interactions_of([2] * 25 + [1] * 2500)) == [
        "Create failed. Fewer than 1% of users have at least 2 interactions each (25 of 2525)."
    ]
