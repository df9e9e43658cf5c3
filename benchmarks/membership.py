"""Membership-inference benchmark: the loss-threshold attack against nets trained with and
without DP-SGD, side by side on the same members and non-members.

German credit (read in place) is cut per seed into members (the training rows) and as
many non-members; each seed trains the same over-fit-prone net (2 x 128 ReLU, Adam,
``--epochs`` epochs on ``--members`` rows) plainly and with the product's DP-SGD at each
``--epsilons`` (delta 1e-5), then attacks every model with
:func:`greenscore.privacy.membership.loss_attack`. Writes ``results/membership.json`` and
``results/membership.md``: attack AUC and advantage per model and seed, their means, the
members' and non-members' mean loss, and each model's AUC as a credit model on the
non-members (what privacy costs). Exit 1 if the DP model's mean attack AUC is not within
0.05 of 0.5 or the plain model's is not at least 0.1 above it.

Run: ``.venv/bin/python benchmarks/membership.py [--seeds 0,1,2] [--epochs 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _membership_nets import german_split, proba, train_net  # noqa: E402

from greenscore.privacy.membership import loss_attack  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--members", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--epsilons", default="1,8")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    epsilons = [float(e) for e in args.epsilons.split(",")]
    load_before = os.getloadavg()
    started = time.perf_counter()
    runs = []
    for seed in seeds:
        split = german_split(args.members, args.members, seed=seed)
        for eps in [None, *epsilons]:
            t0 = time.perf_counter()
            net, spent = train_net(split, epochs=args.epochs, seed=seed, dp_epsilon=eps, lr=3e-3)
            p_in, p_out = proba(net, split.x_in), proba(net, split.x_out)
            attack = loss_attack(p_in, split.y_in, p_out, split.y_out)
            runs.append(
                {
                    "seed": seed,
                    "model": "plain" if eps is None else f"dp eps={eps:g}",
                    "epsilon_spent": spent,
                    **attack.as_dict(),
                    "credit_auc_non_members": float(roc_auc_score(split.y_out, p_out)),
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    models = list(dict.fromkeys(r["model"] for r in runs))
    mean = {
        m: {
            k: float(np.mean([r[k] for r in runs if r["model"] == m]))
            for k in (
                "auc",
                "advantage",
                "member_loss",
                "non_member_loss",
                "credit_auc_non_members",
            )
        }
        for m in models
    }
    strict = f"dp eps={min(epsilons):g}"
    checks = {
        "dp attack AUC within 0.05 of 0.5": abs(mean[strict]["auc"] - 0.5) <= 0.05,
        "plain attack AUC at least 0.1 above dp": mean["plain"]["auc"] - mean[strict]["auc"] >= 0.1,
    }
    result = {
        "setup": {
            "data": "german_credit.csv",
            "members": args.members,
            "non_members": args.members,
            "epochs": args.epochs,
            "net": "2x128 ReLU MLP, Adam lr 3e-3, batch 32; DP-SGD clip 1.0, delta 1e-5",
            "seeds": seeds,
        },
        "runs": runs,
        "mean": mean,
        "checks": checks,
        "seconds": time.perf_counter() - started,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "membership.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    lines = [
        "## Membership inference (loss-threshold attack)",
        "",
        f"German credit, {args.members} members and {args.members} non-members per seed "
        f"(seeds {args.seeds}), {args.epochs} epochs; attack AUC 0.5 = the attacker learns nothing.",
        "",
        "| model | attack AUC (mean) | advantage | member loss | non-member loss | credit AUC |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in models:
        v = mean[m]
        per_seed = ", ".join(f"{r['auc']:.3f}" for r in runs if r["model"] == m)
        lines.append(
            f"| {m} | {v['auc']:.3f} ({per_seed}) | {v['advantage']:.3f} | "
            f"{v['member_loss']:.3f} | {v['non_member_loss']:.3f} | "
            f"{v['credit_auc_non_members']:.3f} |"
        )
    lines += [
        "",
        "Checks: " + "; ".join(f"{k}: {'yes' if ok else 'NO'}" for k, ok in checks.items()),
        "",
        f"{result['seconds']:.0f} s; load average {load_before[0]:.1f} before, "
        f"{result['load_average_after'][0]:.1f} after (2 shared cores).",
        "",
    ]
    (RESULTS / "membership.md").write_text("\n".join(lines), "utf-8")
    print("\n".join(lines))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
