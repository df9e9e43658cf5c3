"""Split one dataset into lenders' portfolios, for simulations and benchmarks.

Real consortia are not IID: lenders differ in size, in default rate and in where their
customers live. Each splitter returns one array of row positions per lender (disjoint,
together every row, each sorted), drawn from one seeded NumPy generator:

- ``iid``: a random permutation cut into equal parts;
- ``label-skew``: per class, a Dirichlet(alpha) share for each lender (McMahan et al.'s
  non-IID benchmark), so default rates differ between lenders;
- ``quantity-skew``: lender sizes from Dirichlet(alpha), rows otherwise random;
- ``region``: whole regions per lender (the generator's ``region`` column), so the
  feature distribution shifts between lenders;
- ``portfolios``: sizes *and* default rates drawn from Dirichlet(alpha), with every
  lender's default rate held within realistic bounds (5-50 % by default). A lender of
  99 % defaults is not a lender, and made pooled models look worse than local ones.

Every lender gets at least ``min_rows`` rows with both classes, or the split is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError, DataError

SPLITS = ("iid", "label-skew", "quantity-skew", "region", "portfolios")
MIN_ROWS = 20

ERR_SPLIT = "--split must be one of {choices}, not '{value}'"
ERR_LENDERS = "a federation needs at least 2 lenders, got {value}"
ERR_ALPHA = "the Dirichlet concentration alpha must be positive, got {value}"
ERR_TOO_FEW = (
    "{n_rows} rows cannot make {lenders} lenders of at least {min_rows} rows with both "
    "classes; use fewer lenders or more data"
)
ERR_REGION_COLUMN = "--split region needs a '{column}' column in the data"
ERR_REGIONS = "--split region found {found} regions for {lenders} lenders; use at most {found}"
ERR_RATE_BOUNDS = "default-rate bounds must satisfy 0 < low < high < 1, got ({low}, {high})"
ERR_DRAW = (
    "could not draw {lenders} portfolios with default rates within [{low:g}, {high:g}] in "
    "{tries} tries; widen the bounds or use fewer lenders"
)


def _check(n_rows: int, lenders: int, alpha: float) -> None:
    if lenders < 2:
        raise ConfigError(ERR_LENDERS.format(value=lenders))
    if not alpha > 0:
        raise ConfigError(ERR_ALPHA.format(value=alpha))
    if n_rows < lenders * MIN_ROWS:
        raise DataError(ERR_TOO_FEW.format(n_rows=n_rows, lenders=lenders, min_rows=MIN_ROWS))


def _usable(parts: list[np.ndarray], y: np.ndarray, min_rows: int) -> bool:
    return all(len(p) >= min_rows and np.unique(y[p]).size == 2 for p in parts)


def _sizes(rng: np.random.Generator, n: int, lenders: int, alpha: float, floor: int) -> np.ndarray:
    """Lender sizes from Dirichlet(alpha), each at least ``floor``, summing to ``n``."""
    spare = n - floor * lenders
    shares = rng.dirichlet(np.full(lenders, alpha))
    sizes = np.floor(shares * spare).astype(int) + floor
    sizes[np.argmax(shares)] += n - sizes.sum()
    return sizes


def _retry(
    draw: Callable[[], list[np.ndarray]], y: np.ndarray, tries: int = 50
) -> list[np.ndarray]:
    """Redraw a random split until every lender is usable (both classes, enough rows)."""
    for _ in range(tries):
        parts = draw()
        if _usable(parts, y, MIN_ROWS):
            return [np.sort(p) for p in parts]
    raise DataError(ERR_TOO_FEW.format(n_rows=len(y), lenders=len(parts), min_rows=MIN_ROWS))


def split_iid(y: np.ndarray, lenders: int, *, seed: int = 0) -> list[np.ndarray]:
    """Equal random parts."""
    _check(len(y), lenders, 1.0)
    rng = np.random.default_rng(seed)
    return _retry(lambda: np.array_split(rng.permutation(len(y)), lenders), y)


def split_label_skew(
    y: np.ndarray, lenders: int, *, alpha: float = 0.5, seed: int = 0
) -> list[np.ndarray]:
    """Each class shared out by its own Dirichlet(alpha) draw: default rates differ."""
    _check(len(y), lenders, alpha)
    rng = np.random.default_rng(seed)

    def draw() -> list[np.ndarray]:
        parts: list[list[int]] = [[] for _ in range(lenders)]
        for label in (0, 1):
            rows = rng.permutation(np.flatnonzero(y == label))
            shares = rng.dirichlet(np.full(lenders, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(rows)).astype(int)
            for k, chunk in enumerate(np.split(rows, cuts)):
                parts[k].extend(chunk.tolist())
        return [np.asarray(p, dtype=np.int64) for p in parts]

    return _retry(draw, y)


def split_quantity_skew(
    y: np.ndarray, lenders: int, *, alpha: float = 0.5, seed: int = 0
) -> list[np.ndarray]:
    """Sizes from Dirichlet(alpha); which rows go where is random."""
    _check(len(y), lenders, alpha)
    rng = np.random.default_rng(seed)

    def draw() -> list[np.ndarray]:
        sizes = _sizes(rng, len(y), lenders, alpha, MIN_ROWS)
        return np.split(rng.permutation(len(y)), np.cumsum(sizes)[:-1])

    return _retry(draw, y)


def split_by_region(
    y: np.ndarray, regions: pd.Series | np.ndarray, lenders: int, *, seed: int = 0
) -> list[np.ndarray]:
    """Whole regions per lender: regions dealt largest first to the smallest lender so far."""
    _check(len(y), lenders, 1.0)
    values = pd.Series(np.asarray(regions, dtype=object)).fillna("(missing)").astype(str)
    counts = values.value_counts()
    if len(counts) < lenders:
        raise ConfigError(ERR_REGIONS.format(found=len(counts), lenders=lenders))
    rng = np.random.default_rng(seed)
    # Ties in size are broken at random so the seed decides which lender gets which region.
    order = sorted(counts.index, key=lambda r: (-counts[r], rng.random()))
    owner: dict[str, int] = {}
    load = np.zeros(lenders, dtype=int)
    for region in order:
        k = int(np.argmin(load))
        owner[region] = k
        load[k] += counts[region]
    lender_of = values.map(owner).to_numpy()
    parts = [np.flatnonzero(lender_of == k) for k in range(lenders)]
    if not _usable(parts, y, MIN_ROWS):
        raise DataError(ERR_TOO_FEW.format(n_rows=len(y), lenders=lenders, min_rows=MIN_ROWS))
    return parts


def split_portfolios(
    y: np.ndarray,
    lenders: int,
    *,
    alpha: float = 0.5,
    rate_bounds: tuple[float, float] = (0.05, 0.5),
    seed: int = 0,
    tries: int = 200,
) -> list[np.ndarray]:
    """Sizes and default rates from Dirichlet(alpha), each rate within ``rate_bounds``.

    A lender's size is its Dirichlet share of all rows; its default rate follows the
    Dirichlet share of the defaults it would receive under label skew, clipped into the
    bounds. Rows are then drawn without replacement; draws that run out of defaults or
    non-defaults are redrawn.
    """
    _check(len(y), lenders, alpha)
    low, high = rate_bounds
    if not 0 < low < high < 1:
        raise ConfigError(ERR_RATE_BOUNDS.format(low=low, high=high))
    rng = np.random.default_rng(seed)
    bads, goods = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(tries):
        sizes = _sizes(rng, len(y), lenders, alpha, MIN_ROWS)
        skew = rng.dirichlet(np.full(lenders, alpha)) * len(bads)
        rates = np.clip(skew / sizes, low, high)
        n_bad = np.round(rates * sizes).astype(int)
        n_good = sizes - n_bad
        if n_bad.sum() > len(bads) or n_good.sum() > len(goods):
            # Not enough rows of a class for these rates: scale the sizes down to fit.
            scale = min(len(bads) / max(n_bad.sum(), 1), len(goods) / max(n_good.sum(), 1))
            n_bad = np.floor(n_bad * scale).astype(int)
            n_good = np.floor(n_good * scale).astype(int)
        if (n_bad < 1).any() or (n_bad + n_good < MIN_ROWS).any():
            continue
        bad_cut = np.cumsum(n_bad)[:-1]
        good_cut = np.cumsum(n_good)[:-1]
        bad_parts = np.split(rng.permutation(bads)[: n_bad.sum()], bad_cut)
        good_parts = np.split(rng.permutation(goods)[: n_good.sum()], good_cut)
        parts = [
            np.sort(np.concatenate([b, g])) for b, g in zip(bad_parts, good_parts, strict=True)
        ]
        observed = np.array([y[p].mean() for p in parts])
        if (
            _usable(parts, y, MIN_ROWS)
            and ((observed >= low - 1e-9) & (observed <= high + 1e-9)).all()
        ):
            return parts
    raise DataError(ERR_DRAW.format(lenders=lenders, low=low, high=high, tries=tries))


def split_lenders(
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    method: str,
    lenders: int,
    alpha: float = 0.5,
    seed: int = 0,
    region_column: str = "region",
) -> list[np.ndarray]:
    """Dispatch to a splitter by its CLI name (see the module docstring).

    Raises
    ------
    ConfigError
        For an unknown method, fewer than two lenders or a bad alpha.
    DataError
        When the data cannot be split that way (too few rows, no region column).
    """
    if method not in SPLITS:
        raise ConfigError(ERR_SPLIT.format(choices=", ".join(SPLITS), value=method))
    y = np.asarray(y)
    if method == "iid":
        return split_iid(y, lenders, seed=seed)
    if method == "label-skew":
        return split_label_skew(y, lenders, alpha=alpha, seed=seed)
    if method == "quantity-skew":
        return split_quantity_skew(y, lenders, alpha=alpha, seed=seed)
    if method == "portfolios":
        return split_portfolios(y, lenders, alpha=alpha, seed=seed)
    if region_column not in frame.columns:
        raise DataError(ERR_REGION_COLUMN.format(column=region_column))
    return split_by_region(y, frame[region_column], lenders, seed=seed)
