"""One call to make a training run repeatable: seed every random generator we use.

Python's ``random``, NumPy's legacy global generator and PyTorch (CPU and, when
present, CUDA) are seeded. Estimators should still take ``random_state`` explicitly;
this covers the code that does not.

``PYTHONHASHSEED`` only takes effect when the interpreter starts: setting it here fixes
``hash()`` of strings in *child* processes (joblib workers, Flower clients), not in
this one. :func:`seed_everything` reports whether this process's hashing is fixed.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys

import numpy as np

from greenscore.errors import ConfigError


def seed_everything(seed: int, *, torch: bool | None = None) -> dict[str, object]:
    """Seed Python, NumPy and PyTorch, and set ``PYTHONHASHSEED`` for child processes.

    Parameters
    ----------
    seed : int
        The seed (a non-negative integer below 2**32, NumPy's limit).
    torch : bool, optional
        Seed PyTorch too. By default it is seeded when installed (importing it costs
        about a second the first time).

    Returns
    -------
    dict
        What was seeded: ``seed``, ``python``, ``numpy``, ``torch`` (bool) and
        ``hash_seed_fixed`` (whether ``hash()`` is repeatable in this process).

    Raises
    ------
    ConfigError
        If the seed is out of range.

    Examples
    --------
    >>> _ = seed_everything(7, torch=False); a = np.random.rand()
    >>> _ = seed_everything(7, torch=False); bool(a == np.random.rand())
    True
    """
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    seeded_torch = False
    want_torch = importlib.util.find_spec("torch") is not None if torch is None else torch
    if want_torch:
        import torch as _torch

        _torch.manual_seed(seed)  # also seeds every CUDA device
        seeded_torch = True
    return {
        "seed": seed,
        "python": True,
        "numpy": True,
        "torch": seeded_torch,
        "hash_seed_fixed": sys.flags.hash_randomization == 0,
    }
