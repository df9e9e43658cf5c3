"""The privacy-budget ledger: epsilon spent per dataset, refused past the budget.

Each dataset has one budget row (created at first use with ``privacy.dp_epsilon_budget``)
and one ledger row per release. Spending is a single conditional ``UPDATE ... SET spent =
spent + eps WHERE spent + eps <= budget``: two processes releasing at once can never
both squeeze under the limit, on SQLite or PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from greenscore.config import Settings
from greenscore.errors import ConfigError, PrivacyError
from greenscore.store import Database, affected_rows, database
from greenscore.store.tables.privacy import PrivacyBudget, PrivacySpend

# Floating-point slack so ten releases of 0.1 fit a budget of 1.0.
_TOLERANCE = 1e-9
BUDGET_EXCEEDED = (
    "privacy budget of dataset '{dataset}' would be exceeded: spent {spent:g} of {budget:g}, "
    "this release needs epsilon {epsilon:g}"
)


@dataclass(frozen=True)
class BudgetStatus:
    """Where a dataset's budget stands."""

    dataset: str
    budget: float
    spent: float

    @property
    def remaining(self) -> float:
        """Epsilon still available."""
        return max(0.0, self.budget - self.spent)


def _ensure(session, dataset: str, budget: float) -> None:  # noqa: ANN001
    if session.get(PrivacyBudget, dataset) is None:
        total = budget
        try:
            with session.begin_nested():
                session.add(
                    PrivacyBudget(
                        dataset=dataset,
                        budget=float(total),
                        spent=0.0,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # another process created it first; its row is as good as ours


def set_budget(dataset: str, budget: float, *, db: Database) -> BudgetStatus:
    """Set (or create) a dataset's total epsilon; it may not drop below what is already spent.

    Raises
    ------
    ConfigError
        If the budget is not positive or below the epsilon already spent.
    """
    if budget <= 0:
        raise ConfigError(f"privacy budget must be positive, got {budget}")
    with db.session() as session:
        _ensure(session, dataset, budget)
        row = session.get(PrivacyBudget, dataset)
        assert row is not None  # _ensure created it
        if budget < row.spent - _TOLERANCE:
            raise ConfigError(
                f"dataset '{dataset}' already spent epsilon {row.spent:g}; budget {budget:g} is below it"
            )
        row.budget = float(budget)
        return BudgetStatus(dataset, row.budget, row.spent)


def spend(
    dataset: str, epsilon: float, *, query: str, actor: str = "system", settings: Settings
) -> BudgetStatus:
    """Charge ``epsilon`` to a dataset's budget (``privacy.dp_epsilon_budget`` unless one was
    set), in the settings' database, or refuse.

    Raises
    ------
    ConfigError
        If epsilon is not positive.
    PrivacyError
        If the release would take the dataset past its budget (nothing is charged).
    """
    if not epsilon > 0:
        raise ConfigError(f"epsilon must be positive, got {epsilon}")
    with database(settings).session() as session:
        _ensure(session, dataset, settings.privacy.dp_epsilon_budget)
        table = PrivacyBudget.__table__
        charged = affected_rows(
            session.execute(
                update(table)
                .where(
                    table.c.dataset == dataset,
                    table.c.spent + epsilon <= table.c.budget + _TOLERANCE,
                )
                .values(spent=table.c.spent + epsilon)
            )
        )
        row = session.execute(select(table).where(table.c.dataset == dataset)).one()
        if charged != 1:
            raise PrivacyError(
                BUDGET_EXCEEDED.format(
                    dataset=dataset, spent=row.spent, budget=row.budget, epsilon=epsilon
                )
            )
        session.add(
            PrivacySpend(
                dataset=dataset,
                query=query[:500],
                epsilon=float(epsilon),
                actor=actor,
                created_at=datetime.now(UTC),
            )
        )
        return BudgetStatus(dataset, row.budget, row.spent)


def budget_status(dataset: str, *, settings: Settings) -> BudgetStatus:
    """A dataset's budget and spending (the default budget if nothing was spent yet)."""
    with database(settings).session() as session:
        row = session.get(PrivacyBudget, dataset)
        if row is None:
            return BudgetStatus(dataset, settings.privacy.dp_epsilon_budget, 0.0)
        return BudgetStatus(dataset, row.budget, row.spent)


def spending(dataset: str, *, db: Database) -> list[dict]:
    """The ledger of one dataset, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(PrivacySpend).where(PrivacySpend.dataset == dataset).order_by(PrivacySpend.id)
        ).scalars()
        return [
            {
                "query": r.query,
                "epsilon": r.epsilon,
                "actor": r.actor,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]
