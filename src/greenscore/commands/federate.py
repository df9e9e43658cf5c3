"""``greenscore federate``: train one model across lenders that never share a row.

- ``simulate``: cut one dataset into lenders (``--split``) and federate them in this
  process (the same Flower ServerApp and ClientApp as a deployment);
- ``keys``: a lender's authentication key pair (its public half goes to the operator);
- ``server``: the consortium operator's SuperLink (TLS, lender keys registered), the run,
  and the resulting model;
- ``client``: a lender's SuperNode, after its file passed the federation's spec check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from greenscore.commands.train import DataOpt, PresetOpt, SpecOpt, TargetOpt

if TYPE_CHECKING:
    from greenscore.federated.plan import FederationPlan

federate_app = typer.Typer(
    help="Federated learning across lenders (Flower): simulate, or run a server and clients.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
ForceOpt = Annotated[
    bool, typer.Option("--force", "-f", help="Write over a non-empty --out folder.")
]
RoundsOpt = Annotated[int, typer.Option("--rounds", min=1, help="Federated rounds.")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help="fedavg, fedprox or fedadam.")]
KindOpt = Annotated[str, typer.Option("--kind", help="What to train: dnn or scorecard.")]
EpsilonOpt = Annotated[
    float | None,
    typer.Option("--dp-epsilon", help="Differential privacy: the epsilon each lender may spend."),
]
DpModeOpt = Annotated[
    str,
    typer.Option(
        "--dp-mode", help="local (DP-SGD on each lender) or central (server clips and adds noise)."
    ),
]
DeltaOpt = Annotated[float, typer.Option("--dp-delta", help="The delta of the DP guarantee.")]
SecaggOpt = Annotated[
    bool, typer.Option("--secagg", help="Aggregate through SecAgg+ (the server sees only sums).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of splits, sampling and training.")]


def _plan(**values: Any) -> FederationPlan:
    from greenscore.federated.plan import FederationPlan

    epsilon = values.pop("dp_epsilon")
    mode = values.pop("dp_mode")
    return FederationPlan(
        **values,
        dp_mode=mode if epsilon is not None else "none",
        dp_epsilon=float(epsilon or 0.0),
    ).check()


@federate_app.command("simulate")
def simulate_command(
    data: DataOpt,
    out: OutOpt,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    lenders: Annotated[int, typer.Option("--lenders", min=2, help="Number of lenders.")] = 5,
    split: Annotated[
        str,
        typer.Option("--split", help="iid, label-skew, quantity-skew, region or portfolios."),
    ] = "label-skew",
    alpha: Annotated[
        float, typer.Option("--alpha", help="Dirichlet concentration of skewed splits.")
    ] = 0.5,
    rounds: RoundsOpt = 10,
    strategy: StrategyOpt = "fedavg",
    kind: KindOpt = "dnn",
    local_epochs: Annotated[
        int, typer.Option("--local-epochs", min=1, help="Local epochs per round.")
    ] = 1,
    fraction: Annotated[
        float, typer.Option("--fraction", help="Share of lenders trained per round.")
    ] = 1.0,
    selection: Annotated[
        str, typer.Option("--selection", help="random, size or availability.")
    ] = "random",
    compression: Annotated[str, typer.Option("--compression", help="none, topk or int8.")] = "none",
    dp_epsilon: EpsilonOpt = None,
    dp_mode: DpModeOpt = "local",
    dp_delta: DeltaOpt = 1e-5,
    secagg: SecaggOpt = False,
    test_fraction: Annotated[
        float,
        typer.Option("--test-fraction", help="Share of each lender's rows kept for its own test."),
    ] = 0.2,
    seed: SeedOpt = 42,
    force: ForceOpt = False,
) -> None:
    """Cut one dataset into lenders and train a model across them (in this process)."""
    from greenscore.federated.simulation import simulate_file

    plan = _plan(
        federation=f"simulate-{split}",
        model=kind,
        rounds=rounds,
        strategy=strategy,
        local_epochs=local_epochs,
        fraction=fraction,
        selection=selection,
        compression=compression,
        dp_epsilon=dp_epsilon,
        dp_mode=dp_mode,
        dp_delta=dp_delta,
        secagg=secagg,
        test_fraction=test_fraction,
        seed=seed,
        out=str(out),
    )
    result, lenders_summary = simulate_file(
        data, plan=plan, lenders=lenders, split=split, alpha=alpha, preset=preset, spec=spec,
        target=target, force=force,
    )  # fmt: skip
    for name, info in lenders_summary.items():
        typer.echo(f"{name}: {int(info['rows']):,} rows, default rate {info['default_rate']:.1%}")
    for entry in result.rounds:
        typer.echo(
            f"round {entry['round']}: validation AUC {_fmt(entry['val_auc'])}, "
            f"{entry['bytes_down'] + entry['bytes_up']:,} bytes, {entry['kwh'] * 1000:.3f} Wh, "
            f"{len(entry['answered'])} lenders"
        )
    for name, row in result.per_lender.items():
        typer.echo(
            f"{name}: test AUC federated {_fmt(row.get('auc-federated'))}, personalised "
            f"{_fmt(row.get('auc-personalised'))}, local only {_fmt(row.get('auc-local'))}"
        )
    for node, why in result.refused.items():
        typer.secho(f"left out {result.name_of(node)}: {why}", fg="yellow", err=True)
    for alert in result.alerts:
        typer.secho(
            f"divergence alert, round {int(alert['round'])}: {alert['reason']}",
            fg="yellow",
            err=True,
        )
    typer.echo(f"best validation AUC {_fmt(result.best_val_auc)} (round {result.best_round})")
    typer.echo(f"wrote {out / 'model'} and {out / 'federation.json'}")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else "n/a"


@federate_app.command("keys")
def keys_command(
    out: OutOpt,
    lender: Annotated[str, typer.Option("--lender", help="The lender's name in the federation.")],
) -> None:
    """Write a lender's key pair (EC P-384): keep NAME.key, give NAME.pub to the operator."""
    from greenscore.federated.deployment import node_keys

    private, public = node_keys(out, lender)
    typer.echo(f"private key: {private} (keep it on the lender's machine)")
    typer.echo(f"public key: {public} (register it with greenscore federate server --lender-key)")


@federate_app.command("server")
def server_command(
    out: OutOpt,
    lender_key: Annotated[
        list[Path], typer.Option("--lender-key", help="A lender's public key (repeat per lender).")
    ],
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    rounds: RoundsOpt = 10,
    strategy: StrategyOpt = "fedavg",
    kind: KindOpt = "dnn",
    dp_epsilon: EpsilonOpt = None,
    dp_mode: DpModeOpt = "local",
    dp_delta: DeltaOpt = 1e-5,
    secagg: SecaggOpt = False,
    host: Annotated[
        str, typer.Option("--host", help="Address the SuperLink listens on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The SuperLink's port.")] = 9091,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="TLS certificate (default: made here).")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="TLS private key (with --cert).")
    ] = None,
    round_timeout: Annotated[
        float, typer.Option("--round-timeout", help="Seconds a round waits for lenders.")
    ] = 600.0,
    seed: SeedOpt = 42,
    force: ForceOpt = False,
) -> None:
    """Run the SuperLink with TLS and registered lenders, train, and write the model."""
    import pandas as pd

    from greenscore.data.loading import resolve_spec
    from greenscore.federated.deployment import run_server
    from greenscore.workflows.out_folder import check_out_folder

    out = check_out_folder(out, force=force)
    dataset_spec = resolve_spec(pd.DataFrame(), preset=preset, spec_path=spec)
    plan = _plan(
        federation="greenscore",
        model=kind,
        rounds=rounds,
        strategy=strategy,
        dp_epsilon=dp_epsilon,
        dp_mode=dp_mode,
        dp_delta=dp_delta,
        secagg=secagg,
        round_timeout=round_timeout,
        seed=seed,
        out=str(out.resolve()),
        spec=dataset_spec.to_yaml(),
    )
    run_id, status = run_server(
        plan,
        lender_keys=list(lender_key),
        workdir=out / "superlink",
        host=host,
        port=port,
        cert=cert,
        key=key,
    )
    typer.echo(f"run {run_id}: {status}")
    typer.echo(f"wrote {out / 'model'} and {out / 'federation.json'}")


@federate_app.command("client")
def client_command(
    data: DataOpt,
    superlink: Annotated[str, typer.Option("--superlink", help="The SuperLink's HOST:PORT.")],
    root_cert: Annotated[
        Path, typer.Option("--root-cert", help="Certificate the SuperLink serves.")
    ],
    key: Annotated[
        Path, typer.Option("--key", help="This lender's private key (greenscore federate keys).")
    ],
    lender: Annotated[str, typer.Option("--lender", help="This lender's name.")],
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    epsilon_budget: Annotated[
        float | None,
        typer.Option("--epsilon-budget", help="The most epsilon this lender will spend."),
    ] = None,
) -> None:
    """Check this lender's file against the federation's spec, then join as a SuperNode."""
    import pandas as pd

    from greenscore.data.loading import resolve_spec
    from greenscore.federated.deployment import run_client
    from greenscore.federated.lender_data import load_lender, spec_fingerprint

    dataset_spec = resolve_spec(pd.DataFrame(), preset=preset, spec_path=spec)
    rows = load_lender(data, dataset_spec, lender=lender)
    typer.echo(
        f"{lender}: {len(rows):,} rows match spec '{dataset_spec.name}'; joining {superlink}"
    )
    raise typer.Exit(
        run_client(
            superlink=superlink,
            root_cert=root_cert,
            private_key=key,
            lender=lender,
            data=Path(data),
            spec_fingerprint=spec_fingerprint(dataset_spec),
            epsilon_budget=epsilon_budget,
        )  # fmt: skip
    )


def register(app: typer.Typer) -> None:
    """Add the ``federate`` command group."""
    app.add_typer(federate_app, name="federate")
