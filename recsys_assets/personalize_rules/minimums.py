"""The minimum data Personalize trains on [DG:limits].

https://docs.aws.amazon.com/personalize/latest/dg/limits.html: at least 1000 interaction records after
event type / event value filtering, at least 25 users with 2 or more interactions, and at least 1 % of all
users with 2 or more. The failure texts are the solution version's own.
"""

from __future__ import annotations

import pandas as pd

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
MIN_SHARE_WITH_TWO = 0.01


def minimum_data_problems(interactions: pd.DataFrame) -> list[str]:
    """The documented minimum-data rules for training, as failure texts (empty when all hold).

    ``interactions`` has at least USER_ID, already filtered by eventType/eventValueThreshold.
    """
    problems = []
    if len(interactions) < MIN_INTERACTIONS:
        problems.append(
            f"Create failed. Dataset has fewer than {MIN_INTERACTIONS} interactions "
            f"(found {len(interactions)})."
        )
    per_user = interactions["USER_ID"].value_counts()
    with_two = int((per_user >= 2).sum())
    if with_two < MIN_USERS_WITH_TWO:
        problems.append(
            f"Create failed. Dataset has fewer than {MIN_USERS_WITH_TWO} users with at least 2 interactions each."
        )
    elif len(per_user) and with_two < MIN_SHARE_WITH_TWO * len(per_user):
        problems.append(
            "Create failed. Fewer than 1% of users have at least 2 interactions each "
            f"({with_two} of {len(per_user)})."
        )
    return problems

