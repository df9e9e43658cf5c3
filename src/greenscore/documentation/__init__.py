"""Documents generated from what a run wrote: model cards, datasheets, the SR 11-7 model
documentation pack and EU AI Act Annex IV technical documentation, and the reference pages
of the documentation site (CLI from the Typer app, HTTP API from OpenAPI).

Nothing here holds a figure of its own: every number is read from a run's files
(``metrics.json``, ``performance.json``, ``lineage.json``, the bundle's metadata) or from a
dataset's spec and profile, so the documents cannot drift from the evidence.
"""
