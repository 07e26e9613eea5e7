"""Summary of scripts/influence_paper.sh's per-task influence documents (OUT/*.json): per task the
model's accuracy, skip share and pattern consistency; across the agreement tasks the correlation of
consistency with accuracy; per ablation method (attention paths and the layer integrated-gradients
stand-in among them) the share of examples whose QoI keeps its sign, pooled over tasks; with the
optimality test (--optimality N) the share of patterns no random pattern beats and their mean
percentile, per task and pooled. Intervals are 95%: Wilson's for shares, Fisher's z for correlations.
Prints a table and writes OUT/summary.json.   influence_summary.py OUT"""

import gzip
import json
import math
import os
import sys

Z = 1.959964


def wilson(k, n):
    if n == 0:
        return [None, None]
    p = k / n
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return [c - h, c + h]


def pearson(x, y):
    n = len(x)
    if n < 2:
        return {"n": n, "r": None, "ci95": [None, None]}
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return {"n": n, "r": None, "ci95": [None, None]}
    r = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    if n < 4:
        return {"n": n, "r": r, "ci95": [None, None]}
    z, se = math.atanh(max(-0.999999999, min(0.999999999, r))), 1 / math.sqrt(n - 3)
    return {"n": n, "r": r, "ci95": [math.tanh(z - Z * se), math.tanh(z + Z * se)]}


def fmt_ci(ci):
    return "n/a" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def main():
    out = sys.argv[1]
    docs = {}
    for name in sorted(os.listdir(out)):
        # A task's document, or its gzipped copy (influence_paper.sh --gzip, for a run kept in git).
        task = name[:-5] if name.endswith(".json") else name[:-8] if name.endswith(".json.gz") else None
        if task is None or task == "summary" or task in docs:
            continue
        opener = gzip.open if name.endswith(".gz") else open
        with opener(os.path.join(out, name), "rt") as f:
            docs[task] = json.load(f)
    summary = {"tasks": {}, "consistency_vs_accuracy": {}, "ablation": {}, "optimality": None}
    pooled = {}
    optimality = {"patterns": 0, "beats_all": 0, "percentile_sum": 0.0, "samples": set()}
    shares, accs = [], []
    print(f"{'task':<22} {'examples':>8} {'accuracy [95%]':>24} {'skip share':>10}  per block{'':>14} subject modal share")
    for name, doc in docs.items():
        for task in doc["results"]["tasks"]:
            acc = task["accuracy"]["all"]
            skip = task["skip_share"].get("all", {})
            cons = task["consistency"].get("subject")
            t = {"examples": task["examples"], "accuracy": acc["accuracy"], "accuracy_ci95": wilson(acc["correct"], acc["n"]),
                 "skip_share": skip.get("overall"), "skip_share_per_block": skip.get("per_layer"),
                 "subject_modal_share": cons["modal_share"] if cons else None,
                 "seconds_per_example": task["seconds"]["per_example"]}
            summary["tasks"][task["task"]] = t
            per_block = " ".join(f"{v:.2f}" for v in (skip.get("per_layer") or []))
            print(f"{task['task']:<22} {task['examples']:>8} {acc['accuracy']:>8.3f} {fmt_ci(t['accuracy_ci95']):>15} "
                  f"{(skip.get('overall') or 0):>10.3f}  {per_block:<23} {'' if cons is None else format(cons['modal_share'], '.3f')}")
            if cons is not None and name != "sst2":
                shares.append(cons["modal_share"])
                accs.append(acc["accuracy"])
            opt = task.get("optimality")
            if opt:
                n_opt = opt["patterns"]
                beats = round(opt["beats_all"] * n_opt)
                t["optimality"] = {"samples": opt["samples"], "patterns": n_opt, "mean_percentile": opt["mean_percentile"],
                                   "beats_all": opt["beats_all"], "beats_all_ci95": wilson(beats, n_opt)}
                optimality["patterns"] += n_opt
                optimality["beats_all"] += beats
                optimality["percentile_sum"] += opt["mean_percentile"] * n_opt
                optimality["samples"].add(opt["samples"])
            ab = task.get("ablation") or {}
            n = ab.get("examples", 0)
            for method, m in (ab.get("methods") or {}).items():
                k = round(m.get("sign_agreement", 0) * n)
                p = pooled.setdefault(method, {"kept": 0, "examples": 0, "nodes": []})
                p["kept"] += k
                p["examples"] += n
                p["nodes"].append(m.get("nodes_per_example"))
    c = pearson(shares, accs)
    summary["consistency_vs_accuracy"] = {"role": "subject", **c}
    print(f"\nconsistency (subject's modal-pattern share) vs accuracy over {c['n']} agreement tasks: "
          f"r = {'n/a' if c['r'] is None else format(c['r'], '.3f')}, 95% {fmt_ci(c['ci95'])}")
    print("\nablation: share of examples whose QoI keeps its sign with only the kept nodes, pooled over tasks")
    for method, p in pooled.items():
        share = p["kept"] / p["examples"] if p["examples"] else None
        ci = wilson(p["kept"], p["examples"])
        nodes = [x for x in p["nodes"] if x is not None]
        summary["ablation"][method] = {"sign_kept": share, "ci95": ci, "examples": p["examples"],
                                       "nodes_per_example": sum(nodes) / len(nodes) if nodes else None}
        print(f"  {method:<27} {'n/a' if share is None else format(share, '.3f')} {fmt_ci(ci)} over {p['examples']} examples")
    if optimality["patterns"]:
        n_opt, beats = optimality["patterns"], optimality["beats_all"]
        summary["optimality"] = {"samples": sorted(optimality["samples"]), "patterns": n_opt,
                                 "mean_percentile": optimality["percentile_sum"] / n_opt,
                                 "beats_all": beats / n_opt, "beats_all_ci95": wilson(beats, n_opt)}
        print(f"\noptimality: random patterns per pattern {', '.join(map(str, sorted(optimality['samples'])))}; "
              "share of patterns that no random pattern beats (s * I), per task and pooled")
        for name, t in summary["tasks"].items():
            if "optimality" in t:
                o = t["optimality"]
                print(f"  {name:<22} {o['beats_all']:.3f} {fmt_ci(o['beats_all_ci95'])} over {o['patterns']} patterns, "
                      f"mean percentile {o['mean_percentile']:.3f}")
        o = summary["optimality"]
        print(f"  {'pooled':<22} {o['beats_all']:.3f} {fmt_ci(o['beats_all_ci95'])} over {n_opt} patterns, "
              f"mean percentile {o['mean_percentile']:.3f}")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
