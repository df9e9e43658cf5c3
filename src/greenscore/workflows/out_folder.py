"""Refuse to write a run into a folder that already holds something, unless told to.

``greenscore train`` (and :func:`greenscore.api.train`) used to write over whatever its
``--out`` folder held, a previous run's model and report included.
"""

from __future__ import annotations

from pathlib import Path

from greenscore.errors import ConfigError

ERR_OUT_IS_FILE = "output folder {path} is a file; expected a folder"
ERR_OUT_NOT_EMPTY = (
    "output folder {path} is not empty (it holds {names}); pass --force (force=True in "
    "Python) to write over it, or choose another folder"
)
#: Entries named in the refusal; the rest are counted.
_SHOWN = 4


def check_out_folder(out: Path | str, *, force: bool) -> Path:
    """Return ``out`` when a run may write there: missing, empty, or ``force`` given.

    Raises
    ------
    ConfigError
        If ``out`` is a file, or a non-empty folder and ``force`` is False.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(ERR_OUT_IS_FILE.format(path=out))
    if force or not out.exists():
        return out
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    if names:
        shown = ", ".join(names[:_SHOWN])
        if len(names) > _SHOWN:
            shown += f" and {len(names) - _SHOWN} more"
        raise ConfigError(ERR_OUT_NOT_EMPTY.format(path=out, names=shown))
    return out
