"""Johnson's relative weights (2000) of the stage scores for NPS, for the whole sample and
for every bootstrap resample at once (reports.priorities explains what they mean).

A resample is a count per journey: how many times it was drawn. Every pairwise sum the
correlations need (journeys with both a and b, Σ a, Σ a², Σ ab over them) is then a
weighted sum of one row of per-journey cross-products, so all the resamples' sums come
from one matrix product (resamples × journeys) · (journeys × sums) instead of a Python
loop over resamples that gathers the rows again each time. The eigendecompositions and
solves that follow work on the stack of small matrices in one call each. The arithmetic
is the same as for one sample; only the order of the additions differs (results agree to
about 1e-13).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PSD_FLOOR = 0.05  # the smallest eigenvalue of corrected correlations
MIN_PAIR = 3  # journeys a pairwise correlation needs (fewer: taken as uncorrelated)

Matrix = np.ndarray[Any, np.dtype[np.float64]]


def relative_weights(x: Matrix, y: Matrix, reliability: Matrix | None = None) -> Matrix:
    """Johnson's relative weights of the columns of x for y: their sum is R² (of the true
    scores, when the columns' `reliability` corrects the correlations for attenuation)."""
    weights: Matrix = resampled_weights(x, y, np.ones((1, y.shape[0])), reliability)[0]
    return weights


def resampled_weights(
    x: Matrix, y: Matrix, counts: Matrix, reliability: Matrix | None = None
) -> Matrix:
    """The relative weights of each resample (a row of `counts`: how many times each
    journey was drawn), as rows of a resamples × stages matrix."""
    return _weights(_cross_products(np.column_stack([x, y])), counts, reliability)


def weights_and_resampled(
    x: Matrix, y: Matrix, counts: Matrix, reliability: Matrix | None = None
) -> tuple[Matrix, Matrix]:
    """relative_weights and resampled_weights of the same data, which share the
    journeys' cross-products: building them is most of a sample's cost apart from the
    resamples' matrix product."""
    products = _cross_products(np.column_stack([x, y]))
    whole = _weights(products, np.ones((1, y.shape[0])), reliability)[0]
    return whole, _weights(products, counts, reliability)


def _weights(products: Matrix, counts: Matrix, reliability: Matrix | None) -> Matrix:
    corr = _correlations(products, counts)
    k = corr.shape[-1] - 1
    if reliability is not None:
        corr = _nearest_correlations(corr, np.sqrt(reliability))
    rxx, rxy = corr[:, :k, :k], corr[:, :k, k]
    values, vectors = np.linalg.eigh(rxx)
    values = np.clip(values, 1e-9, None)  # pairwise correlations need not be PSD
    # correlations of X with its orthogonal counterpart Z, and y regressed on Z
    half = (vectors * np.sqrt(values)[:, None, :]) @ vectors.transpose(0, 2, 1)
    beta = np.linalg.solve(half, rxy[:, :, None])[:, :, 0]
    weights: Matrix = np.einsum("rab,rb->ra", half**2, beta**2)
    return weights


def _cross_products(data: Matrix) -> Matrix:
    """Per journey (row of `data`, NaN: missing), the products every pairwise sum is a
    weighted sum of, for every pair of columns a, b: present(a)·present(b), a·present(b),
    a²·present(b), a·b — journeys × 4·m², each block written in place, not stacked."""
    rows, m = data.shape
    present = ~np.isnan(data)
    mask = present.astype(float)
    filled = np.where(present, data, 0.0)
    # In `data`'s memory order (column-major, as the priorities' stage columns come):
    # a matrix product adds in an order that follows its operands' layout, and the
    # weights are the same to the last bit only in the layout they always had.
    if np.isfortran(data):
        products = np.empty((4, m, m, rows)).transpose(3, 0, 1, 2)
    else:
        products = np.empty((rows, 4, m, m))
    factors = ((mask, mask), (filled, mask), (filled**2, mask), (filled, filled))
    for i, (a, b) in enumerate(factors):
        np.multiply(a[:, :, None], b[:, None, :], out=products[:, i])
    flat: Matrix = products.reshape(rows, 4 * m * m)
    return flat


def _correlations(products: Matrix, counts: Matrix) -> Matrix:
    """Pairwise-complete correlations of the columns `products` were made of, in each
    resample: each pair over the journeys that have both (fewer than MIN_PAIR: 0)."""
    m = math.isqrt(products.shape[1] // 4)
    sums = (counts @ products).reshape(-1, 4, m, m)
    # n[a, b]: journeys with both; total[a, b]: Σ a over them; their squares; Σ a·b
    n, total, squares, cross = (sums[:, i] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        mean_t = mean.transpose(0, 2, 1)
        variance = squares / n - mean**2
        variance_t = variance.transpose(0, 2, 1)
        covariance = cross / n - mean * mean_t
        corr = covariance / np.sqrt(variance * variance_t)
    usable = (n >= MIN_PAIR) & (variance > 1e-12) & (variance_t > 1e-12)
    corr = np.where(usable, corr, 0.0)
    corr[:, np.arange(m), np.arange(m)] = 1.0
    return corr


def _nearest_correlations(joint: Matrix, root: Matrix) -> Matrix:
    """The stages' and NPS's correlations (NPS last) divided by the square roots of the
    stages' reliabilities, made a correlation matrix again: pairwise-complete
    correlations over different journeys, once corrected, can describe no possible data
    (a negative eigenvalue, weights in the thousands). Stages and NPS are corrected
    together and the eigenvalues clipped at PSD_FLOOR, then the diagonal restored to one."""
    m = joint.shape[-1]
    scale = np.append(root, 1.0)
    joint = joint / np.outer(scale, scale)
    diagonal = (slice(None), np.arange(m), np.arange(m))
    joint[diagonal] = 1.0
    values, vectors = np.linalg.eigh(joint)
    clipped = np.clip(values, PSD_FLOOR, None)
    joint = (vectors * clipped[:, None, :]) @ vectors.transpose(0, 2, 1)
    unit = np.sqrt(joint[diagonal])
    result: Matrix = joint / (unit[:, :, None] * unit[:, None, :])
    return result
