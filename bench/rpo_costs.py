"""What P6 costs, from the counters of bench/rpo_probe.py: per-cycle figures and their printout
(bench/rpo_sustained.py)."""

from __future__ import annotations

from typing import Any


def per_cycle(counters: dict[str, dict[str, Any]], cycles: int, window: float) -> dict[str, Any]:
    """Counts over the window divided by the cycles (CPs) completed in it; stage means."""
    n = max(1, cycles)
    api, sql = counters["api"], counters["sql"]
    by_site: dict[str, float] = {}
    for key, count in api.items():
        site = key.split(" ", 1)[0]
        by_site[site] = by_site.get(site, 0.0) + count / n
    by_db: dict[str, float] = {}
    for key, count in sql.items():
        db = key.split(" ", 1)[0]
        by_db[db] = by_db.get(db, 0.0) + count / n
    return {
        "cycles": cycles,
        "api_calls": sum(api.values()) / n,
        "api_calls_by_site": by_site,
        "api_calls_top": sorted(((k, v / n) for k, v in api.items()), key=lambda x: -x[1])[:15],
        "sql_statements": sum(sql.values()) / n,
        "sql_by_database": by_db,
        "sql_per_s_by_database": {k: v * n / window for k, v in by_db.items()},
        "sql_top": sorted(((k, v / n) for k, v in sql.items()), key=lambda x: -x[1])[:10],
        "stage_mean_s": {
            k: counters["stage_s"][k] / 1e6 / counters["stage_n"][k] for k in counters["stage_n"]
        },
        "stage_runs": counters["stage_n"],
    }


def print_costs(res: dict[str, Any]) -> None:
    pc = res["per_cycle"]
    print(f"\nwhat it costs, over {res['window_s']:.0f} s ({pc['cycles']} cycles):")
    width = max(38, *(len(role) for role in res["cpu_cores_by_process"]))
    for role, cores in res["cpu_cores_by_process"].items():
        print(f"  CPU {role:<{width}} {cores:6.2f} cores")
    print(f"  per cycle, counted in {res['per_cycle_scope']}:")
    by_site = ", ".join(f"{k} {v:.1f}" for k, v in pc["api_calls_by_site"].items())
    print(f"  cloud API calls per cycle: {pc['api_calls']:.1f} ({by_site})")
    for k, v in pc["api_calls_top"]:
        print(f"      {v:6.2f}  {k}")
    by_db = ", ".join(f"{k} {v:.1f}" for k, v in pc["sql_by_database"].items())
    print(f"  SQL statements per cycle: {pc['sql_statements']:.1f} ({by_db})")
    per_s = ", ".join(f"{k} {v:.0f}" for k, v in pc["sql_per_s_by_database"].items())
    print(f"    per second: {per_s}")
    for k, v in pc["sql_top"]:
        print(f"      {v:6.2f}  {k}")
    if pg := res.get("postgresql_per_cycle"):
        print(
            f"  PostgreSQL, server side, every client (this process and the replicator's): "
            f"{pg['transactions']:.1f} transactions, {pg['rows_written']:.1f} rows written "
            "per cycle (pg_stat_database; approximate: published about once a second)"
        )
    if res["replicator_counted"]:
        print("  replicator stage wall time, mean per run (runs):")
        for k, v in pc["stage_mean_s"].items():
            print(f"      {v:7.3f} s  {k} ({pc['stage_runs'][k]})")
    else:
        print("  replicator stage wall time: not measured in this topology (its own process)")
    prof = res.get("profile")
    if prof and "own" in prof:
        for kind in ("own", "total"):
            print(f"  py-spy of the {res['profile_process']}, top functions by {kind} samples:")
            for f, _k, share in prof[kind]:
                print(f"      {share:6.1%}  {f}")
    elif prof:
        print(f"  py-spy failed: {prof['error']}")
