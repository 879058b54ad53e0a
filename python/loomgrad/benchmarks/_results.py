"""Bench results people can keep: ``--json PATH`` (every table, row,
contender, rate and ratio, plus the machine), ``--plot PATH`` (each
contender's rate per row against the measured peak or bandwidth line), and
``python -m loomgrad bench compare A.json B.json`` (per-row change between
two runs: before/after a change, or two machines).

JSON layout (``"format": "loomgrad-bench/1"``)::

    {"bench": "gemm", "argv": [...], "created": "...", "machine": {...},
     "tables": [{"title", "unit", "ours", "yardsticks", "peak", "peak_label",
                 "rows": [{"label", "work", "seconds": {name: s},
                           "rate": {name: GF/s or GB/s}, "ratio": {yardstick: x}}],
                 "geomean": {yardstick: x}}]}
"""
from __future__ import annotations

import json
import math
import sys
import time

__all__ = ["table_record", "write_json", "require_matplotlib", "write_plot", "compare",
           "compare_main"]

FORMAT = "loomgrad-bench/1"


def table_record(rows, ours, yardsticks, unit, peak, peak_label, title, means) -> dict:
    names = [ours] + list(yardsticks)
    return {
        "title": title or "", "unit": unit, "ours": ours, "yardsticks": list(yardsticks),
        "peak": peak, "peak_label": peak_label,
        "rows": [{"label": r.label, "work": r.flops,
                  "seconds": {n: r.seconds[n] for n in names if n in r.seconds},
                  "rate": {n: r.gflops(n) for n in names if n in r.seconds},
                  "ratio": {y: r.ratio(ours, y) for y in yardsticks if y in r.seconds}}
                 for r in rows],
        "geomean": dict(means),
    }


def write_json(path: str, bench: str, argv, machine: dict, tables: list) -> None:
    doc = {"format": FORMAT, "bench": bench, "argv": list(argv or []),
           "created": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine,
           "tables": tables}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def require_matplotlib() -> None:
    """Fail before the bench runs, not after, when --plot cannot work."""
    try:
        import matplotlib  # noqa: F401  (optional dependency)
    except ImportError:
        raise SystemExit("--plot needs matplotlib, which is not installed: "
                         "pip install 'loomgrad[plot]' (the plot extra)") from None


def write_plot(path: str, title: str, tables: list) -> None:
    """One panel per table: a bar per contender per row, and the measured
    peak (GF/s) or bandwidth (GB/s) as a horizontal line -- a roofline view."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = [t for t in tables if t["rows"]]
    fig, axes = plt.subplots(len(tables) or 1, 1, squeeze=False,
                             figsize=(10, 3.2 + 0.35 * max([len(t["rows"]) for t in tables] or [1])
                                      * max(len(tables), 1)))
    for ax, t in zip(axes[:, 0], tables):
        names = [t["ours"]] + t["yardsticks"]
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            vals = [r["rate"].get(n) or 0.0 for r in t["rows"]]
            ax.bar([j + i * width for j in range(len(vals))], vals, width, label=n)
        if t.get("peak"):
            ax.axhline(t["peak"], color="k", linestyle="--",
                       label=t.get("peak_label") or f"peak {t['peak']:.0f}")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(t["rows"]))])
        ax.set_xticklabels([r["label"] for r in t["rows"]], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(t["unit"])
        ax.set_title(t["title"] or title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"bench compare: cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SystemExit(f"bench compare: {path} is not a loomgrad bench JSON "
                         f"(written by `bench NAME --json PATH`)")
    return doc


def compare(a: dict, b: dict, file=None) -> dict[str, float]:
    """Print, per table and row present in both runs, our rate in A and in B
    and the change, and the ratio to each yardstick in both; returns the
    geometric-mean change of our rate per table title."""
    file = file or sys.stdout
    print(f"A: {a['bench']} {a['created']} on {a['machine'].get('cpu', '?')} "
          f"[{a['machine'].get('gemm_isa', '?')}]", file=file)
    print(f"B: {b['bench']} {b['created']} on {b['machine'].get('cpu', '?')} "
          f"[{b['machine'].get('gemm_isa', '?')}]", file=file)
    out = {}
    b_tables = {t["title"]: t for t in b["tables"]}
    for ta in a["tables"]:
        tb = b_tables.get(ta["title"])
        if tb is None:
            continue
        rows_b = {r["label"]: r for r in tb["rows"]}
        ours, unit = ta["ours"], ta["unit"]
        ys = [y for y in ta["yardsticks"] if y in tb["yardsticks"]]
        width = max([len("shape")] + [len(r["label"]) for r in ta["rows"]])
        print(f"\n{ta['title']}", file=file)
        head = f"{'shape':<{width}}  {'A ' + unit:>10}  {'B ' + unit:>10}  {'B/A':>6}"
        head += "".join(f"  {'A x ' + y:>10}  {'B x ' + y:>10}" for y in ys)
        print(head, file=file)
        print("-" * len(head), file=file)
        changes = []
        for ra in ta["rows"]:
            rb = rows_b.get(ra["label"])
            if rb is None:
                continue
            va, vb = ra["rate"].get(ours), rb["rate"].get(ours)
            ch = vb / va if va and vb else None
            if ch:
                changes.append(ch)

            def num(v, w, fmt):
                return f"{'-':>{w}}" if v is None else f"{v:>{w}{fmt}}"

            line = f"{ra['label']:<{width}}  {num(va, 10, '.1f')}  {num(vb, 10, '.1f')}  " \
                   f"{num(ch, 6, '.3f')}"
            for y in ys:
                line += f"  {num(ra['ratio'].get(y), 10, '.2f')}  {num(rb['ratio'].get(y), 10, '.2f')}"
            print(line, file=file)
        if changes:
            g = math.exp(sum(math.log(c) for c in changes) / len(changes))
            out[ta["title"]] = g
            print(f"geometric-mean change of {ours} B/A: {g:.3f} over {len(changes)} rows "
                  f"(> 1: B faster)", file=file)
    if not out:
        print("no table and row labels in common", file=file)
    return out


def compare_main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m loomgrad bench compare",
                                description="Per-row change between two `bench NAME --json` runs.")
    p.add_argument("a", help="the first (before) JSON")
    p.add_argument("b", help="the second (after) JSON")
    args = p.parse_args(argv)
    compare(_load(args.a), _load(args.b))
    return 0
