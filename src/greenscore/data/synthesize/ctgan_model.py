"""CTGAN (Xu et al., 2019) from the ``ctgan`` package, behind the synthesisers' interface.

A conditional GAN with mode-specific normalisation of numbers (a Gaussian mixture per
column) and training-by-sampling of categories, so rare levels (a default, a month in
arrears) are generated in proportion. It learns interactions a copula cannot, at the cost
of minutes of training. The package is under the Business Source License 1.1, whose
Additional Use Grant allows any use except offering a synthetic-data creation service to
third parties: a lender may use it on its own portfolio (see the README).
"""

from __future__ import annotations

import pandas as pd

from greenscore.data.synthesize.marginals import EmpiricalMarginal

#: CTGAN packs ``pac`` rows per discriminator input: the batch must be a multiple of it.
PAC = 10


class CTGANSynthesizer:
    """Fit CTGAN on a learnable table and sample from it.

    Parameters
    ----------
    epochs : int
        Passes over the data (CTGAN's default is 300; a few tens already give usable data).
    batch_size : int
        Rows per step, rounded down to a multiple of 10 (at least 10).
    seed : int
        Seed of NumPy's and PyTorch's draws inside CTGAN.
    """

    def __init__(self, *, epochs: int = 300, batch_size: int = 500, seed: int = 0) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed

    def fit(self, table: pd.DataFrame, categorical: list[str]) -> CTGANSynthesizer:
        """Learn from a learnable table (numbers without missing values, levels as text)."""
        from ctgan import CTGAN

        batch = max(PAC, min(self.batch_size, len(table)) // PAC * PAC)
        model = CTGAN(
            epochs=self.epochs, batch_size=batch, pac=PAC, enable_gpu=False, verbose=False
        )
        model.set_random_state(self.seed)
        # Numbers go in as normal scores (see .marginals) and come back through their own
        # empirical quantiles: exact marginals, and mixtures that fit in seconds.
        self.marginals_ = {
            c: EmpiricalMarginal(table[c].to_numpy(dtype=float))
            for c in table.columns
            if c not in categorical
        }
        scored = table.assign(**{c: m.scores_ for c, m in self.marginals_.items()})
        model.fit(scored, discrete_columns=[c for c in table.columns if c in categorical])
        self.model_ = model
        self.columns_ = list(table.columns)
        return self

    def sample(self, rows: int, *, seed: int | None = None) -> pd.DataFrame:
        """Draw ``rows`` new rows of the learnable table."""
        if seed is not None:
            self.model_.set_random_state(seed)
        drawn = self.model_.sample(rows)[self.columns_]
        for column, marginal in self.marginals_.items():
            drawn[column] = marginal.from_normal(drawn[column].to_numpy(dtype=float))
        return drawn
