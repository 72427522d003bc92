"""The numeric fits behind the recipes: iALS, EASE, item co-occurrence, item metadata, trends.

Pure functions on sparse user x item matrices (or event arrays); ``recipes`` decides what goes in.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

ALS_ITERATIONS = 15
# EASE inverts a dense items x items matrix: 12k items is ~15 s and ~2 GB in float32 here. scipy's
# bundled OpenBLAS crashed inverting float64 matrices of 16k+ items (recsys-anchors.md), so float32
# and this limit also keep clear of that.
EASE_MAX_ITEMS = 12_000


def fit_ials(confidence: sp.csr_matrix, fitted: np.ndarray, *, factors: int, regularization: float,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """iALS (implicit's conjugate-gradient solver) item factors from the ``fitted`` users' rows;
    every user's factors, the others' solved from their own rows against those item factors.

    ``confidence`` holds c_ui >= 1 for observed pairs (the solver treats missing pairs as c = 1, p = 0).
    """
    # Imported here: implicit takes half a second to import, and the service imports the recipe
    # catalogue alone.
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit parallelises over users itself; a multi-threaded BLAS underneath only contends.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=1.0,
                                        iterations=ALS_ITERATIONS, dtype=np.float32, random_state=seed)
        everyone = bool(fitted.all())
        model.fit(confidence if everyone else confidence[fitted], show_progress=False)
        if everyone:
            return model.user_factors, np.ascontiguousarray(model.item_factors)
        user_factors = np.empty((confidence.shape[0], factors), dtype=np.float32)
        user_factors[fitted] = model.user_factors
        left_out = np.flatnonzero(~fitted)
        user_factors[left_out] = model.recalculate_user(left_out, confidence[left_out])
    return user_factors, np.ascontiguousarray(model.item_factors)


def ials_users(item_factors: np.ndarray, confidence_rows: sp.csr_matrix, *, regularization: float) -> np.ndarray:
    """Least-squares user factors for ``confidence_rows`` against fixed item factors (fold-in)."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=item_factors.shape[1], regularization=regularization,
                                        alpha=1.0, dtype=np.float32)
        model.item_factors = item_factors
        return model.recalculate_user(np.arange(confidence_rows.shape[0]), confidence_rows)


def gram(x: sp.csr_matrix) -> np.ndarray:
    """XᵀX as a dense float32 items x items matrix."""
    return np.asarray((x.T @ x).toarray(), dtype=np.float32)


def fit_ease(gram_matrix: np.ndarray, l2: float) -> np.ndarray:
    """EASE (Steck 2019): B = I - P diagMat(1/diag(P)) with P = (XᵀX + λI)⁻¹, zero diagonal; float32."""
    g = gram_matrix.copy()
    g[np.diag_indices_from(g)] += np.float32(l2)
    # Cholesky and its inverse in place (LAPACK potrf/potri): half the memory of a general inverse.
    factor, info = lapack.spotrf(g, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: XᵀX + λI is not positive definite (potrf info {info})")
    p, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inversion failed (potri info {info})")
    # potri fills the upper triangle only: mirror it.
    lower = np.tril_indices_from(p, -1)
    p[lower] = p.T[lower]
    diag = p.diagonal().copy()
    p /= -diag[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p


def cooccurrence_similarity(x: sp.csr_matrix, *, popularity_discount: float, min_count: int,
                            keep: int, block: int = 1024) -> sp.csr_matrix:
    """Each item's ``keep`` best neighbours by co-occurrence in user histories (binary ``x``).

    sim(i, j) = co(i, j) / n_j^d for pairs with co(i, j) >= ``min_count``: d = 0 ranks neighbours by
    raw co-occurrence (popular items first), d = 1 by the share of j's users who also had i.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    x.data[:] = 1.0
    counts = np.asarray(x.sum(axis=0)).ravel()
    discount = np.power(np.maximum(counts, 1.0), -popularity_discount).astype(np.float32)
    by_item = x.T.tocsr()
    n = x.shape[1]
    rows = []
    for start in range(0, n, block):
        co = np.asarray((by_item[start:start + block] @ x).toarray(), dtype=np.float32)
        co[np.arange(co.shape[0]), np.arange(start, start + co.shape[0])] = 0.0
        co[co < max(min_count, 1)] = 0.0
        rows.append(top_neighbours(co * discount, keep))
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, n), dtype=np.float32)


def metadata_similarity(tokens: sp.csr_matrix, *, keep: int, block: int = 1024) -> sp.csr_matrix:
    """Jaccard similarity of items' categorical values (``tokens``: items x values, binary)."""
    tokens = sp.csr_matrix(tokens, dtype=np.float32)
    tokens.data[:] = 1.0
    sizes = np.asarray(tokens.sum(axis=1)).ravel().astype(np.float32)
    n = tokens.shape[0]
    rows = []
    for start in range(0, n, block):
        shared = np.asarray((tokens[start:start + block] @ tokens.T).toarray(), dtype=np.float32)
        union = sizes[start:start + block, None] + sizes[None, :] - shared
        sim = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        sim[np.arange(sim.shape[0]), np.arange(start, start + sim.shape[0])] = 0.0
        rows.append(top_neighbours(sim, keep))
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, n), dtype=np.float32)


def top_neighbours(sim: np.ndarray, keep: int) -> sp.csr_matrix:
    """The ``keep`` largest positive entries of each row, as a sparse matrix."""
    keep = min(keep, sim.shape[1])
    if keep < sim.shape[1]:
        cut = np.partition(sim, sim.shape[1] - keep, axis=1)[:, sim.shape[1] - keep][:, None]
        sim = np.where(sim >= cut, sim, 0.0)
    return sp.csr_matrix(np.maximum(sim, 0.0), dtype=np.float32)


def trend_scores(item: np.ndarray, time: np.ndarray, n_items: int, window: float, end: float) -> np.ndarray:
    """Growth of each item's interaction count from the window before the latest one to the latest,
    (end - window, end] against (end - 2 window, end - window]."""
    latest = np.bincount(item[(time > end - window) & (time <= end)], minlength=n_items)
    before = np.bincount(item[(time > end - 2 * window) & (time <= end - window)], minlength=n_items)
    return (latest - before).astype(np.float64)
