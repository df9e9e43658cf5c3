"""Decision cut-offs given for one run: stored in the bundles at train, overridden at score.

``approve_below`` and ``decline_above`` split probabilities of default into approve,
review and decline. ``greenscore train`` stores them in every bundle it fits (default:
``settings.scoring``); ``greenscore score`` may override a model's own cut-offs for one
file, and says so, since the decisions then differ from the model's validated strategy.
"""

from __future__ import annotations

import dataclasses

from pydantic import ValidationError

from greenscore.config import ScoringSettings
from greenscore.errors import ConfigError
from greenscore.models.bundle import ScoringBundle

OVERRIDE_WARNING = (
    "cut-offs overridden for this run: approve below {approve_below:g}, decline above "
    "{decline_above:g} (the model was trained with {trained_approve:g} / {trained_decline:g})"
)


def with_cutoffs(
    scoring: ScoringSettings,
    *,
    approve_below: float | None = None,
    decline_above: float | None = None,
) -> ScoringSettings:
    """``scoring`` with the cut-offs that are given replaced (the rest kept).

    Raises
    ------
    ConfigError
        If a cut-off is outside [0, 1] or ``approve_below`` exceeds ``decline_above``.
    """
    update = {
        k: v
        for k, v in (("approve_below", approve_below), ("decline_above", decline_above))
        if v is not None
    }
    if not update:
        return scoring
    try:
        return ScoringSettings.model_validate({**scoring.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"cut-offs: {where + ': ' if where else ''}{message}") from exc


def override_cutoffs(
    bundle: ScoringBundle,
    *,
    approve_below: float | None = None,
    decline_above: float | None = None,
) -> tuple[ScoringBundle, str | None]:
    """A view of ``bundle`` deciding with other cut-offs, and the warning to show.

    The bundle itself is left alone (the copy shares its fitted pipeline); with no
    cut-off given, or the model's own, it is returned as is with no warning.
    """
    scoring = with_cutoffs(bundle.scoring, approve_below=approve_below, decline_above=decline_above)
    trained = bundle.scoring
    if (scoring.approve_below, scoring.decline_above) == (
        trained.approve_below,
        trained.decline_above,
    ):
        return bundle, None
    warning = OVERRIDE_WARNING.format(
        approve_below=scoring.approve_below,
        decline_above=scoring.decline_above,
        trained_approve=trained.approve_below,
        trained_decline=trained.decline_above,
    )
    return dataclasses.replace(bundle, scoring=scoring), warning
