"""Scale-out on Dask: out-of-core data, LightGBM on a cluster, partitioned batch scoring.

Every command keeps pandas in-process as its default engine; ``--engine dask`` with
``--scheduler local:N`` (a :class:`distributed.LocalCluster` of N worker processes) or
``--scheduler tcp://HOST:PORT`` (any running cluster) runs the same rules and models here:

* :mod:`~greenscore.scale.cluster` — one way to get a Dask client from ``--scheduler``;
* :mod:`~greenscore.scale.frames` — CSV and Parquet read lazily, cleaned per partition,
  with global row numbers so findings name the same rows as pandas does;
* :mod:`~greenscore.scale.validate` — the validation rules computed per partition and reduced;
* :mod:`~greenscore.scale.batch` — scores with reasons per partition, written atomically as
  partitioned Parquet, resumable after a worker dies;
* :mod:`~greenscore.scale.lgbm` — LightGBM trained through :mod:`lightgbm.dask`, stored as an
  ordinary LightGBM classifier in an ordinary bundle;
* :mod:`~greenscore.scale.tuning` — Optuna studies on PostgreSQL shared by N worker processes;
* :mod:`~greenscore.scale.generate` — large synthetic portfolios written chunk by chunk.

This package sits above ``models`` and ``explain`` and below ``commands``.
"""
