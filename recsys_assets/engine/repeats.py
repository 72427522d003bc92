"""Repeat or explore: how likely a user's next interaction is to touch an item they already touched,
learned from the training data, and how served lists mix those items with new ones.

Some catalogues never repeat (nobody rates a film twice); in shops people re-view items within a
session and re-buy consumables. A collaborative model alone gets both wrong: it scores a user's own
items highest (they are what it reconstructs), so a ratings site is served its history back, and it
does not know which history items come back. Following the repeat/explore decomposition of
next-basket recommendation (Ren et al., "RepeatNet", AAAI 2019; Hu et al., "TIFU-KNN", SIGIR 2020;
Li et al., "A Next Basket Recommendation Reality Check", TOIS 2023: personal frequency with recency
decay is the strongest simple repeat score), a user's next interaction is modelled as

    P(i | u) = p(u) P_repeat(i | u)            for the items u touched,
             = (1 - p(u)) P_explore(i | u)     for the others,

- ``p(u)``: the share of u's own events (after the first) that touched an item u had touched before,
  event-weighted, shrunk towards the share over all users (``PRIOR_EVENTS`` pseudo-events), its odds
  scaled by ``repeat_weight`` (chosen on validation: the per-event share is not exactly the chance
  that a held-out window repeats);
- ``P_repeat(i | u)``: u's event weights on i, each halving every ``repeat_half_life`` of u's own
  events back from the newest (when the recipe's recency setting is on), times how often users come
  back to i at all (``item_return_rates``), normalised over u's items;
- ``P_explore(i | u)``: the collaborative model's softmax renormalised over the items u has not
  touched.

A catalogue without repeats gets p(u) = 0: history items sink below every new item. Users unknown to
the model have no history: popularity, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Pseudo-events of the all-users share in each user's repeat share: a user with 1-2 events gets
# (almost) the shop's share, one with hundreds their own.
PRIOR_EVENTS = 10.0
# Pseudo-users of the all-items return rate in each item's.
PRIOR_USERS = 5.0
# No probability is exactly 1: the explore part keeps a share, and logs stay finite.
_CEILING = 1.0 - 1e-6
# Ranking key of history items with no chance to repeat: below every other item, yet still listed
# (finite) when a user has exhausted the rest of the catalogue.
FLOOR = np.float32(-3.0e38)


@dataclass
class Repeats:
    """Per user (rows as the model's users): ``probability`` p(u) and ``history`` P_repeat (rows sum
    to 1 over the user's items, or are empty)."""

    probability: np.ndarray
    history: sp.csr_matrix

    def apply(self, keys: np.ndarray, index: np.ndarray) -> None:
        """Turn a block of explore keys (log-probabilities up to a per-row constant; rows are users by
        index, -1 unknown) into the mixture's log-probabilities, in place."""
        from recsys_assets.engine import kernels

        log_total = kernels.log_sum_exp(keys, keys.max(axis=1))[:, 0].astype(np.float64)
        known = index >= 0
        rows = np.flatnonzero(known)
        history = self.history[index[known]].tocoo()
        row, col = rows[history.row], history.col
        probability = np.zeros(len(index), dtype=np.float64)
        probability[rows] = self.probability[index[known]]
        # The explore part's mass on the user's own items, given back to the other items.
        own = np.bincount(row, weights=np.exp(keys[row, col].astype(np.float64) - log_total[row]), minlength=len(index))
        shift = log_total + np.log1p(-np.minimum(own, _CEILING)) - np.log1p(-np.minimum(probability, _CEILING))
        keys -= shift.astype(np.float32)[:, None]
        mass = probability[row] * history.data
        keys[row, col] = np.where(mass > 0, np.log(np.maximum(mass, 1e-300)), FLOOR).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        h = self.history
        return {"repeat_probability": self.probability, "repeat_indptr": h.indptr, "repeat_indices": h.indices,
                "repeat_data": h.data, "repeat_shape": np.array(h.shape)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Repeats | None:
        if "repeat_probability" not in arrays:
            return None
        history = sp.csr_matrix((arrays["repeat_data"], arrays["repeat_indices"], arrays["repeat_indptr"]),
                                shape=tuple(arrays["repeat_shape"]))
        return cls(arrays["repeat_probability"], history)


@dataclass
class Sequences:
    """Events in each user's time order, with what the repeat statistics need."""

    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    repeat: np.ndarray  # the user touched this item at an earlier event
    from_newest: np.ndarray  # 0 for the user's newest event, 1 for the one before, ...

    @classmethod
    def of(cls, user: np.ndarray, item: np.ndarray, weight: np.ndarray, n_items: int) -> Sequences:
        """From events ordered by user, then time (``Events.in_user_time_order``)."""
        pair = user.astype(np.int64) * n_items + item
        first = np.zeros(len(pair), dtype=bool)
        first[np.unique(pair, return_index=True)[1]] = True
        return cls(user, item, weight.astype(np.float64), ~first, from_newest(user))


def from_newest(user: np.ndarray) -> np.ndarray:
    """For events ordered by user, then time: 0 at each user's newest event, 1 at the one before, ..."""
    ends = np.r_[np.flatnonzero(user[1:] != user[:-1]), len(user) - 1] if len(user) else np.empty(0, np.int64)
    return np.repeat(ends, np.diff(np.r_[-1, ends])) - np.arange(len(user))


def repeat_shares(seq: Sequences, n_users: int) -> tuple[np.ndarray, float]:
    """(each user's shrunk repeat share, the all-users share) over events after each user's first."""
    later = np.r_[False, seq.user[1:] == seq.user[:-1]] if len(seq.user) else np.empty(0, bool)
    events = np.bincount(seq.user[later], weights=seq.weight[later], minlength=n_users)
    repeats = np.bincount(seq.user[later & seq.repeat], weights=seq.weight[later & seq.repeat], minlength=n_users)
    overall = float(repeats.sum() / events.sum()) if events.sum() > 0 else 0.0
    return (repeats + PRIOR_EVENTS * overall) / (events + PRIOR_EVENTS), overall


def item_return_rates(seq: Sequences, n_items: int) -> np.ndarray:
    """Per item: the share of its users who came back to it (2+ events), shrunk to the all-items share."""
    users = np.bincount(seq.item[~seq.repeat], minlength=n_items).astype(np.float64)
    returned_pairs = np.unique(seq.user[seq.repeat].astype(np.int64) * n_items + seq.item[seq.repeat])
    returned = np.bincount(returned_pairs % n_items, minlength=n_items).astype(np.float64)
    overall = returned.sum() / users.sum() if users.sum() > 0 else 0.0
    return (returned + PRIOR_USERS * overall) / (users + PRIOR_USERS)


def scaled(probability: np.ndarray, weight: float) -> np.ndarray:
    """``probability`` with its odds multiplied by ``weight`` (0 never repeats)."""
    return weight * probability / np.maximum(1.0 - probability + weight * probability, 1e-12)


def build(seq: Sequences, shape: tuple[int, int], *, weight: float, half_life: float | None) -> Repeats:
    """The repeat part for ``shape`` (users, items) from ``seq``; ``half_life`` None: plain counts."""
    n_users, n_items = shape
    share, _ = repeat_shares(seq, n_users)
    decay = seq.weight if half_life is None else seq.weight * 0.5 ** (seq.from_newest / half_life)
    # Every touched item keeps its entry, even at (almost) no chance to repeat: ``apply`` must see it.
    history = sp.csr_matrix((np.maximum(decay, 1e-300), (seq.user, seq.item)), shape=shape)
    history.sum_duplicates()
    history.data *= item_return_rates(seq, n_items)[history.indices]
    row = np.repeat(np.arange(n_users), np.diff(history.indptr))
    totals = np.bincount(row, weights=history.data, minlength=n_users)
    history.data /= np.where(totals > 0, totals, 1.0)[row]
    return Repeats(scaled(share, weight).astype(np.float32), history.astype(np.float32))
