"""The minimum data Personalize trains on [DG:limits].

https://docs.aws.amazon.com/personalize/latest/dg/limits.html: at least 1000 interaction records after
event type / event value filtering, at least 25 users with 2 or more interactions, and at least 1 % of all
users with 2 or more. The failure texts are the solution version's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
MIN_SHARE_WITH_TWO = 0.01


@dataclass(frozen=True)
class MinimumData:
    """What the minimum-data rules count: interactions, users, and users with 2 or more interactions."""

    interactions: int
    users: int
    users_with_two: int

    @classmethod
    def of(cls, interactions: pd.DataFrame) -> "MinimumData":
        """``interactions`` has at least USER_ID, already filtered by eventType/eventValueThreshold."""
        per_user = interactions["USER_ID"].value_counts()
        return cls(len(interactions), len(per_user), int((per_user >= 2).sum()))

    @property
    def problems(self) -> list[str]:
        """The documented minimum-data rules for training, as failure texts (empty when all hold)."""
        problems = []
        if self.interactions < MIN_INTERACTIONS:
            problems.append(
                f"Create failed. Dataset has fewer than {MIN_INTERACTIONS} interactions "
                f"(found {self.interactions})."
            )
        if self.users_with_two < MIN_USERS_WITH_TWO:
            problems.append(
                f"Create failed. Dataset has fewer than {MIN_USERS_WITH_TWO} users with at least 2 interactions each."
            )
        elif self.users and self.users_with_two < MIN_SHARE_WITH_TWO * self.users:
            problems.append(
                "Create failed. Fewer than 1% of users have at least 2 interactions each "
                f"({self.users_with_two} of {self.users})."
            )
        return problems


def minimum_data_problems(interactions: pd.DataFrame) -> list[str]:
    """The documented minimum-data rules for training, as failure texts (empty when all hold)."""
    return MinimumData.of(interactions).problems
