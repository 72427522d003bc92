"""Personalize's custom recipes, trained for real on this machine.

- ``catalogue``: the recipes, their documented hyperparameters and the engine's own
- ``preparation``: event selection and weights, interactions as codes, item metadata, the search
- ``trainers``: one fit per recipe family, and completing a fit with held-out events
- ``hpo``: hyperparameter parsing and the candidates a training run chooses between

``engine.training`` runs prepare -> fit -> evaluate.

Training turns a dataset group's data into a ``Model`` the way a solution version does: it
validates the recipe's hyperparameters, applies the solution's event selection (``eventType``,
``eventValueThreshold``, ``eventsConfig``), holds the data to the documented minimums (failing with
the service's own texts), then fits:

- aws-popularity-count: distinct users per item, the same list for every user, no scores.
- aws-trending-now: the items whose interaction counts grew most from the window before the latest
  ``trend_discovery_frequency`` window to the latest one, then the latest window's count, then
  popularity. Emulator choice: the newest interaction stands for "now" (the service uses the clock),
  so historical data shows the trends it had. No batch inference, as on AWS.
- aws-user-personalization (v1, v2) and aws-personalized-ranking (v1, v2): iALS (implicit-feedback
  matrix factorisation with ``implicit``) on recency-weighted, log-scaled confidences, or EASE (a
  closed-form item-item linear model) when the catalogue has at most ``EASE_MAX_ITEMS`` items.
  Engine hyperparameters (an extension; the service has no such names) pick between them:
  ``algorithm`` (auto | ials | ease), ``ials_regularization``, ``ials_alpha``, ``ease_lambda``; each
  defaults to ``auto``: every combination of their small grids is trained on a validation split (the
  newest 20 % of other users' interactions) and the best NDCG@10 of the served lists wins. The lists
  mix the user's own items and new ones by the repeat share learned from the data (``engine.repeats``).
  Scores are a softmax over the catalogue (UP) or over the ranked list (PR); users the model has not
  seen get the popularity distribution, as the service serves new users popular items.
- aws-sims: item co-occurrence in user histories, discounted by the neighbour's popularity
  (``popularity_discount_factor``), pairs below ``min_cointeraction_count`` dropped, users and items
  outside the history/count percentiles left out of the counting.
- aws-similar-items: co-occurrence similarity blended with the Jaccard similarity of the items'
  categorical metadata (Items dataset) where there is any.

RELATED_ITEMS models fill short lists with popular items and answer unknown items with popular items,
as the service documents. ``item_id_hidden_dim``/``item_metadata_hidden_dim`` (Similar-Items) and ``bptt``
(User-Personalization) shape the service's neural networks, which have no counterpart here: they are
validated and reported, not used. The catalogue is the items in the selected interactions.
"""
