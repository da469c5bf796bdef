"""The drift measures on a reference profile's bins: bin counts, PSI, Jensen-Shannon distance, KS and chi-square.

Numeric bins are right-closed: with bin edges ``e_0 = -inf < e_1 < ... < e_n = +inf``, bin ``i``
holds the values ``x`` with ``e_i < x <= e_(i+1)`` (``pandas.cut``'s convention). Categorical
bins are the reference's top categories in order, then one "other" bin for every other value.

PSI (population stability index) is ``sum((c_i - r_i) * ln(c_i / r_i))`` over the bins, where
``r_i`` and ``c_i`` are the reference's and the current sample's shares of non-null values.
A share of zero would make it infinite, so each share is first raised to at least
:data:`PSI_EPSILON` (``max(share, 1e-4)``, shares not renormalised): a bin empty on both sides
adds 0, a bin empty on one side adds a large but finite amount.

The Jensen-Shannon distance is the square root of the Jensen-Shannon divergence with base-2
logarithms (between 0 and 1), on the raw shares (it is finite with empty bins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "PSI_EPSILON",
    "TestResult",
    "numeric_bin_counts",
    "category_bin_counts",
    "shares",
    "psi",
    "js_distance",
    "ks_test",
    "chi_square_test",
]

PSI_EPSILON = 1e-4
_COMPARED_EDGES = 32  # above this many inner edges one searchsorted beats a comparison per edge


@dataclass(frozen=True)
class TestResult:
    """A statistical test of "the current sample comes from the reference distribution".

    ``name`` is ``"ks"`` (scipy.stats.ks_2samp) or ``"chi2"`` (scipy.stats.chisquare);
    ``statistic`` and ``p_value`` are NaN when the test does not apply (too few values or bins).
    """

    name: str
    statistic: float
    p_value: float


def numeric_bin_counts(values: "np.ndarray", edges: Sequence[float]) -> "np.ndarray":
    """How many of the non-null ``values`` (float64, NaN for null) fall in each right-closed bin of ``edges``.

    ``edges`` starts at -inf and ends at +inf. Up to :data:`_COMPARED_EDGES` inner edges, the
    counts come from one vectorised ``values <= edge`` per edge (NaN compares false), with no copy
    of the values: ~7x faster than a ``searchsorted`` over 10 bins. More edges take the
    ``searchsorted``.
    """
    import numpy as np

    inner = np.asarray(edges[1:-1], dtype="float64")
    if inner.size > _COMPARED_EDGES:
        index = np.searchsorted(inner, values[~np.isnan(values)], side="left")
        return np.bincount(index, minlength=len(edges) - 1).astype("int64")
    scratch = np.empty(values.shape, dtype=bool)
    at_most = [np.count_nonzero(np.less_equal(values, edge, out=scratch)) for edge in inner]
    non_null = values.size - np.count_nonzero(np.isnan(values, out=scratch))
    return np.diff(np.array([0, *at_most, non_null], dtype="int64"))


def category_bin_counts(counts: "pd.Series", categories: Sequence[str]) -> "np.ndarray":
    """Counts per category in ``categories`` (by their ``str`` form), then the count of every other value."""
    import numpy as np

    top = counts.reindex(list(categories), fill_value=0).to_numpy(dtype="int64")
    other = int(counts.sum()) - int(top.sum())
    return np.append(top, other).astype("int64")


def shares(counts: "np.ndarray") -> "np.ndarray":
    """Each bin's share of the total (all zeros when the total is zero)."""
    import numpy as np

    counts = np.asarray(counts, dtype="float64")
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def psi(reference: "np.ndarray", current: "np.ndarray", epsilon: float = PSI_EPSILON) -> float:
    """The population stability index of the ``current`` bin shares against the ``reference`` ones.

    Shares are raised to at least ``epsilon`` first; NaN when either side has no values.
    """
    import numpy as np

    r = np.asarray(reference, dtype="float64")
    c = np.asarray(current, dtype="float64")
    if r.sum() <= 0 or c.sum() <= 0:
        return math.nan
    r = np.maximum(r, epsilon)
    c = np.maximum(c, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference: "np.ndarray", current: "np.ndarray") -> float:
    """The base-2 Jensen-Shannon distance between two bin distributions (each normalised to sum 1).

    NaN when either side has no values.
    """
    import numpy as np

    p = np.asarray(reference, dtype="float64")
    q = np.asarray(current, dtype="float64")
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        held = a > 0
        return float(np.sum(a[held] * np.log2(a[held] / m[held])))

    divergence = max(0.0, (kl(p) + kl(q)) / 2)
    return math.sqrt(min(divergence, 1.0))


def ks_test(reference_sample: "np.ndarray", current: "np.ndarray") -> TestResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided) on the finite values of both."""
    import numpy as np
    from scipy import stats

    a = reference_sample[np.isfinite(reference_sample)]
    b = current[np.isfinite(current)]
    if a.size == 0 or b.size == 0:
        return TestResult("ks", math.nan, math.nan)
    result = stats.ks_2samp(a, b)
    return TestResult("ks", float(result.statistic), float(result.pvalue))


def chi_square_test(reference_counts: "np.ndarray", current_counts: "np.ndarray") -> TestResult:
    """Chi-square goodness of fit (``scipy.stats.chisquare``) of the current bin counts to the reference shares.

    Only the bins the reference has values in take part (an expected count of zero has no
    chi-square term; values in such bins are what the unseen-category share reports); the
    expected counts are the reference shares of those bins times the current count in them.
    NaN when fewer than two such bins remain or no current value falls in them.
    """
    import numpy as np
    from scipy import stats

    reference_counts = np.asarray(reference_counts, dtype="float64")
    current_counts = np.asarray(current_counts, dtype="float64")
    held = reference_counts > 0
    observed = current_counts[held]
    if held.sum() < 2 or observed.sum() <= 0:
        return TestResult("chi2", math.nan, math.nan)
    expected = reference_counts[held] / reference_counts[held].sum() * observed.sum()
    result = stats.chisquare(observed, expected)
    return TestResult("chi2", float(result.statistic), float(result.pvalue))
