"""Each lender's privacy ledger for federated training, kept in its own budget store.

Every round a lender trains under differential privacy costs it epsilon on its data. The
charge is made in the lender's own :mod:`greenscore.privacy.budget` ledger (its home's
database) *before* it trains: the conditional update there refuses a round that would
take the lender past its budget, the lender then answers with :data:`BUDGET_STOPPED`
instead of an update, and the federation carries on without it.

Epsilon composes under RDP accounting, not by addition, so each round is charged the
*increase* of the lender's cumulative epsilon: the ledger's sum is the cumulative epsilon
at the fixed delta, and each row says the round, delta and the cumulative figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenscore.config import get_settings
from greenscore.errors import PrivacyError
from greenscore.privacy.budget import set_budget, spend, spending
from greenscore.store import database

BUDGET_STOPPED = "privacy budget exhausted: lender '{lender}' stops training ({why})"


def ledger_name(lender: str, data_fingerprint: str) -> str:
    """The ledger's dataset key: the lender's data, whatever federation uses it."""
    return f"federated:{lender}:{data_fingerprint[:16]}"


@dataclass(frozen=True)
class RoundCharge:
    """What one round cost a lender."""

    round: int
    epsilon_round: float
    epsilon_total: float
    delta: float
    budget: float
    spent: float


def charge_round(
    *,
    lender: str,
    data_fingerprint: str,
    round_: int,
    epsilon_before: float,
    epsilon_after: float,
    delta: float,
    budget: float,
) -> RoundCharge:
    """Charge a round's epsilon to the lender's ledger, or refuse.

    Parameters
    ----------
    lender : the lender's name (the ledger's actor).
    data_fingerprint : identifies the lender's data (the ledger's dataset key).
    round_ : the federation round.
    epsilon_before, epsilon_after : cumulative epsilon before and after this round.
    delta : the fixed delta of the accounting.
    budget : the lender's total epsilon, set when its ledger for this data is first used
        (the lender's own ``epsilon-budget``, else the federation's target).

    Raises
    ------
    PrivacyError
        With :data:`BUDGET_STOPPED` when the round would pass the budget (nothing charged).
    """
    name = ledger_name(lender, data_fingerprint)
    settings = get_settings()  # the lender process's own home
    db = database(settings)
    if not spending(name, db=db):
        set_budget(name, budget, db=db)
    increment = max(epsilon_after - epsilon_before, 1e-12)
    try:
        status = spend(
            name,
            increment,
            query=(
                f"federated round {round_}: DP training, delta={delta:g}, "
                f"cumulative epsilon {epsilon_after:.6g}"
            ),
            actor=f"lender:{lender}",
            settings=settings,
        )
    except PrivacyError as exc:
        raise PrivacyError(BUDGET_STOPPED.format(lender=lender, why=exc.message)) from exc
    return RoundCharge(round_, increment, epsilon_after, delta, status.budget, status.spent)


def ledger_rows(lender: str, data_fingerprint: str) -> list[dict]:
    """The lender's federated charges, oldest first (epsilon per round, cumulative in text)."""
    return spending(ledger_name(lender, data_fingerprint), db=database(get_settings()))
