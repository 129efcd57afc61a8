"""The few statistics the reports need, in pure Python and from sums and counts only, so the
database can supply the inputs with GROUP BY (see `reports.figures.Figures`)."""

from __future__ import annotations

import math

Z95 = 1.96  # two-sided 95 % normal critical value
_BETACF_EPS = 1e-15
_BETACF_MAX_ITER = 10_000
_TINY = 1e-300


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n, got {successes} of {n}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_z(s1: int, n1: int, s2: int, n2: int) -> float:
    """Pooled two-proportion z statistic for p2 − p1 (0 when the pooled variance is 0)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one trial")
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0
    return (s2 / n2 - s1 / n1) / se


def proportion_drop_p(
    previous_successes: int, previous_n: int, current_successes: int, current_n: int
) -> float:
    """Two-sided p-value of the pooled two-proportion z-test between two periods."""
    z = two_proportion_z(previous_successes, previous_n, current_successes, current_n)
    return normal_two_sided_p(z)


def proportion_drop_significant(
    previous_successes: int,
    previous_n: int,
    current_successes: int,
    current_n: int,
    alpha: float = 0.05,
) -> bool:
    """Whether the share fell, and the two-proportion z-test rejects equality at `alpha`."""
    if current_successes / current_n >= previous_successes / previous_n:
        return False
    return proportion_drop_p(previous_successes, previous_n, current_successes, current_n) < alpha


def welch_t(
    n1: int, sum1: float, sq1: float, n2: int, sum2: float, sq2: float
) -> tuple[float, float]:
    """Welch's t for mean2 − mean1 and its Welch–Satterthwaite degrees of freedom, from each
    sample's size, sum and sum of squares. With no variance in either sample t is 0 for equal
    means and ±inf otherwise, and df falls back to n1 + n2 − 2."""
    if n1 < 2 or n2 < 2:
        raise ValueError("Welch's t needs at least two values in each sample")
    mean1, mean2 = sum1 / n1, sum2 / n2
    var1 = max(0.0, (sq1 - n1 * mean1 * mean1) / (n1 - 1))
    var2 = max(0.0, (sq2 - n2 * mean2 * mean2) / (n2 - 1))
    a, b = var1 / n1, var2 / n2
    difference = mean2 - mean1
    if a + b == 0:
        t = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        return t, float(n1 + n2 - 2)
    t = difference / math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    return t, df


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _BETACF_MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1) < _BETACF_EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if not 0 <= x <= 1:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in {0, 1}:
        return float(x)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with `df` (possibly fractional or infinite) degrees of
    freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isinf(t):
        return 0.0
    if math.isinf(df):
        return normal_two_sided_p(t)
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    tail = t_two_sided_p(t, df) / 2
    return 1 - tail if t >= 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The t value with P(T ≤ t) = q, by bisection on `t_cdf` (e.g. 0.975 → the 95 % critical
    value)."""
    if not 0 < q < 1:
        raise ValueError("q must be between 0 and 1")
    if q < 0.5:
        return -t_quantile(1 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < q:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


def mean_drop_p(n1: int, sum1: float, sq1: float, n2: int, sum2: float, sq2: float) -> float:
    """Two-sided p-value of Welch's t-test between sample 1 (before) and sample 2 (now)."""
    t, df = welch_t(n1, sum1, sq1, n2, sum2, sq2)
    return t_two_sided_p(t, df)


def bounded_squares(n: int, total: float, low: float, high: float) -> float:
    """The largest sum of squares n values in [low, high] with this sum can have: the
    Bhatia–Davis bound Var ≤ (high − mean)(mean − low). Stands in for an unknown sum of squares
    so that a t-test stays conservative."""
    if n <= 0:
        return 0.0
    mean = total / n
    return n * (max(0.0, (high - mean) * (mean - low)) + mean * mean)


def nps_change_z(nps1: float, margin1: float, nps2: float, margin2: float) -> float:
    """z for NPS2 − NPS1 from the two 95 % margins of error (margin = 1.96·SE)."""
    se = math.sqrt(margin1 * margin1 + margin2 * margin2) / Z95
    difference = nps2 - nps1
    if se == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    return difference / se


def nps_change_significant(nps1: float, margin1: float, nps2: float, margin2: float) -> bool:
    """Whether two NPS differ at 95 %: |NPS2 − NPS1| > 1.96·√(SE1² + SE2²), which with
    margins of 1.96·SE is √(margin1² + margin2²)."""
    return abs(nps2 - nps1) > math.sqrt(margin1 * margin1 + margin2 * margin2)


def pearson(n: int, sx: float, sy: float, sxx: float, syy: float, sxy: float) -> float | None:
    """Pearson's r from the sums of x, y, x², y² and xy; None below two pairs or when either
    variable does not vary."""
    if n < 2:
        return None
    sxx_c = n * sxx - sx * sx
    syy_c = n * syy - sy * sy
    if sxx_c <= 0 or syy_c <= 0:
        return None
    r = (n * sxy - sx * sy) / math.sqrt(sxx_c * syy_c)
    return max(-1.0, min(1.0, r))
