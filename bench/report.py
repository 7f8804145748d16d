"""docs/performance.md and the JSON summary, from the measured numbers only."""

from __future__ import annotations

import json
import re

TARGETS = {
    "sso_vs_node": ("≤ 1.0 (aim 0.5)", 1.0),
    "login_vs_argon2": ("≤ 1.1", 1.1),
    "static_vs_bare": ("≥ 0.8", 0.8),
    "scale": ("≤ 1.2", 1.2),
}


def _fmt(value, digits=2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**PASS**" if ok else "**FAIL**")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(c) if not isinstance(c, str) else c
                                       for c in row) + " |")
    return lines + [""]


def targets(results: dict) -> list[dict]:
    """The budget of issue 8, checked against what was measured."""
    out = []
    sections = results["sections"]
    node = sections.get("node", {})
    if node.get("status") == "ok":
        for engine, data in node["ours"].items():
            ours = data.get("cpu_ms_with_db_schedstat", data["cpu_ms_schedstat"])
            ratio = data["ratio"]
            out.append({
                "name": f"SSO flow CPU, ours ({engine}{' incl. PostgreSQL backend' if engine == 'postgresql' else ''}) / node-oidc-provider",  # noqa: E501
                "key": f"sso_vs_node.{engine}",
                "measured": f"{ours:.2f} ms / {node['cpu_ms_schedstat']:.2f} ms",
                "ratio": ratio, "target": TARGETS["sso_vs_node"][0],
                "pass": ratio is not None and ratio <= TARGETS["sso_vs_node"][1],
            })
    login = sections.get("login", {})
    if login.get("status") == "ok":
        for engine, data in login["engines"].items():
            ours = data.get("cpu_ms_with_db_schedstat", data["cpu_ms_schedstat"])
            ratio = data["ratio"]
            out.append({
                "name": f"Password login CPU ({engine}{' incl. PostgreSQL backend' if engine == 'postgresql' else ''}) / one argon2id verify",  # noqa: E501
                "key": f"login_vs_argon2.{engine}",
                "measured": f"{ours:.2f} ms / {data['argon2']['cpu_ms']:.2f} ms",
                "ratio": ratio, "target": TARGETS["login_vs_argon2"][0],
                "pass": ratio is not None and ratio <= TARGETS["login_vs_argon2"][1],
            })
    static = sections.get("static", {})
    if static.get("status") == "ok":
        for name, data in static["endpoints"].items():
            out.append({
                "name": f"{'Discovery' if name == 'discovery' else 'JWKS'} requests/s / bare Flask",
                "key": f"static_vs_bare.{name}",
                "measured": f"{data['app']['requests_per_s']:,.0f} / "
                            f"{data['bare']['requests_per_s']:,.0f} req/s",
                "ratio": data["ratio"], "target": TARGETS["static_vs_bare"][0],
                "pass": data["ratio"] >= TARGETS["static_vs_bare"][1],
            })
    scale = sections.get("scale", {})
    if scale.get("status") == "ok":
        small, large = scale["sizes"]
        for engine, data in scale["engines"].items():
            for what, label in (("login", "Login"), ("sso", "SSO flow (token)")):
                key = f"{what}_ratio_with_db" if f"{what}_ratio_with_db" in data else \
                    f"{what}_ratio"
                ratio = data[key]
                out.append({
                    "name": f"{label} CPU at {large:,} / at {small:,} accounts ({engine})",
                    "key": f"scale.{what}.{engine}",
                    "measured": f"{_cost(data, large, what):.2f} ms / "
                                f"{_cost(data, small, what):.2f} ms",
                    "ratio": ratio, "target": TARGETS["scale"][0],
                    "pass": ratio <= TARGETS["scale"][1],
                })
    imp = sections.get("import", {})
    if imp.get("status") == "ok":
        for m in import_measurements(imp):
            if m.get("target"):
                out.append({
                    "name": f"SIECLE import: {m['name']}", "key": f"import.{m['name']}",
                    "measured": f"{_fmt(m['value'])} {m.get('unit') or ''}".strip(),
                    "ratio": None, "target": m["target"], "pass": m.get("pass"),
                })
    return out


def _cost(data, size, what):
    entry = data["sizes"][str(size)][what]
    return entry.get("cpu_ms_with_db", entry["cpu_ms"])


def import_measurements(imp: dict) -> list[dict]:
    """The import's measurements (report.add), with issue 8's targets where it gave none;
    when it only filled the dict, its numbers whose names say wall time or RSS."""
    items = [dict(m) for m in imp.get("measurements") or []]
    if not items:
        for key, value in (imp.get("values") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                items.append({"name": key, "value": value, "unit": _unit_of(key),
                              "target": None})
    for m in items:
        name = m["name"].lower()
        if not m.get("target"):
            if "wall" in name:
                m["target"] = "< 60 s"
            elif "rss" in name:
                m["target"] = "< 300 MB"
        m["pass"] = _check(m.get("value"), m.get("target"), m.get("unit") or _unit_of(name))
    return items


def _unit_of(name: str) -> str:
    name = name.lower()
    if name.endswith("_s") or "seconds" in name:
        return "s"
    if name.endswith("_mb") or "mib" in name:
        return "MB"
    if name.endswith("_kb") or name.endswith("_kib"):
        return "KiB"
    if "bytes" in name:
        return "bytes"
    return ""


def _check(value, target, unit) -> bool | None:
    if not isinstance(value, (int, float)) or not target:
        return None
    match = re.match(r"\s*([<>]=?|≤|≥)\s*([\d.,]+)\s*(\w*)", str(target))
    if not match:
        return None
    op, limit, tunit = match.group(1), float(match.group(2).replace(",", "")), match.group(3)
    scale = 1.0
    if tunit.upper() in ("MB", "MIB") and unit:
        scale = {"bytes": 1 / 2**20, "KiB": 1 / 1024, "kb": 1 / 1024}.get(unit, 1.0)
    v = value * scale
    return {"<": v < limit, "<=": v <= limit, "≤": v <= limit, ">": v > limit,
            ">=": v >= limit, "≥": v >= limit}[op]


# -- markdown -------------------------------------------------------------------------------


def markdown(results: dict) -> str:
    """The whole of docs/performance.md."""
    m = results["machine"]
    s = results["sections"]
    settings = results["settings"]
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`"
        f"{' --quick' if settings.get('quick') else ''}) in one run on the machine below, "
        f"on {m['date']}; the run took {results['elapsed_s'] / 60:.1f} min. Every number "
        "here was measured by that run; nothing is copied or estimated. Re-run "
        "`make bench` to refresh this file (the JSON summary is printed on standard output "
        "and kept in `bench/.work/results.json`).",
        "",
        "## Machine",
        "",
    ]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines += _table(["", ""], [
        ["CPU", f"{m['cpu_model']}" + (f" ({m['cpu_mhz']:.0f} MHz)" if m.get("cpu_mhz") else "")
         + (", virtual machine" if m.get("virtualised") else "")],
        ["Cores", str(m["cores"])],
        ["Memory", f"{m['memory_gib']} GiB"],
        ["Kernel", m["kernel"]],
        ["Python", f"{m['python_impl']} {m['python']}"],
        ["Packages", pkgs],
        ["Node.js", m.get("node") or "not installed"],
        ["PostgreSQL", m.get("postgresql") or "not reachable"],
        *([["Redis", _redis_line(s)]] if _redis_line(s) else []),
        ["Load generator", m.get("load_generator") or "—"],
        ["Environment", "`GLIBC_TUNABLES=" + (m.get("glibc_tunables") or "") + "` (as `idp serve` "
         "gives gunicorn: argon2id's memory on huge pages), transparent huge pages "
         + (m.get("transparent_hugepage") or "unknown")],
        ["Date", m["date"]],
    ])
    lines += ["## Summary against the budget of issue 8", ""]
    rows = [[t["name"], t["measured"], _fmt(t["ratio"], 3), t["target"], _verdict(t["pass"])]
            for t in results["targets"]]
    lines += _table(["Measurement", "Measured", "Ratio", "Target", "Result"], rows) if rows \
        else ["No target could be checked in this run.", ""]
    lines += _floor_summary(s)
    not_run = [f"`{k}` ({v.get('status')}: {v.get('reason', '')})" for k, v in s.items()
               if v.get("status") != "ok"]
    if not_run:
        lines += ["Sections not measured in this run: " + "; ".join(not_run) + ".", ""]
    lines += _section_sso(s) + _section_login(s) + _section_static(s) + _section_scale(s)
    lines += _section_import(s) + _method(results)
    return "\n".join(lines).rstrip() + "\n"


FLOOR_TEXT = (
    "The stack floor is `bench/floor_app.py` under the same gunicorn: a bare Flask app that "
    "answers the benchmark's SSO flow and login with only what no provider built on "
    "gunicorn, Flask and joserfc can skip (the HTTP requests, a CSRF token in Flask's "
    "signed session, HTTP Basic client credentials, one RS256 signature, one argon2id "
    "verify) and nothing else: no storage, no lookup of codes or tokens, no audit "
    "trail, no rate limit, no Authlib. It is a lower bound, not a provider."
)


def _floor_summary(s: dict) -> list[str]:
    """What the stack itself costs: the floor app against the two budget references."""
    node = s.get("node") or {}
    login = s.get("login") or {}
    rows = []
    floor = node.get("floor") if node.get("status") == "ok" else None
    if floor:
        rows.append([
            "SSO flow CPU, stack floor / node-oidc-provider",
            f"{floor['cpu_ms_schedstat']:.2f} ms / {node['cpu_ms_schedstat']:.2f} ms",
            _fmt(floor["ratio"], 3), _rounds(floor["ratio_rounds"]),
        ])
    floor = login.get("floor") if login.get("status") == "ok" else None
    if floor:
        rows.append([
            "Password login CPU, stack floor / one argon2id verify",
            f"{floor['cpu_ms_schedstat']:.2f} ms / {floor['argon2']['cpu_ms']:.2f} ms",
            _fmt(floor["ratio"], 3), _rounds(floor["ratio_rounds"]),
        ])
    if not rows:
        return []
    return ["**Context, not a verdict: the floor of the stack.** " + FLOOR_TEXT, ""] + \
        _table(["Measurement", "Measured", "Ratio", "Rounds' ratios"], rows)


def _redis_line(s: dict) -> str | None:
    """The Redis server of the node+Redis context row, for the machine table."""
    redis = (s.get("node") or {}).get("redis") or {}
    if redis.get("version"):
        return f"{redis['version']} (shared; used by the node-oidc-provider + Redis row)"
    if redis.get("reason"):
        return f"not used ({redis['reason']})"
    return None


def _status_line(section: dict | None, name: str) -> list[str] | None:
    if section is None:
        return [f"Not run (select it with `--only {name}`).", ""]
    if section.get("status") != "ok":
        return [f"**{section.get('status', 'error').upper()}**: {section.get('reason', '')}", ""]
    return None


def _rounds(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _section_sso(s: dict) -> list[str]:
    lines = ["## 1–2. Single-sign-on code flow, side by side with node-oidc-provider", ""]
    lines += [
        "One flow = `GET /authorize` with the SSO session cookie (302 with a code) → "
        "`POST /token` (client_secret_basic, PKCE S256, authorization_code) → `GET "
        "/userinfo` (bearer). CPU = utime + stime of the server process from "
        "`/proc/<pid>/stat` before and after each round of flows (the gunicorn worker; the "
        "node process), divided by the number of flows; the median of the rounds is "
        "given. The schedstat column is the scheduler's nanosecond runtime of the same "
        "process (`/proc/<pid>/task/*/schedstat`), a finer cross-check. With PostgreSQL "
        "the CPU of the backend processes serving the worker is added in the Total column.",
        "",
        "### Our provider alone",
        "",
    ]
    sso, node = s.get("sso"), s.get("node")
    status = _status_line(sso, "sso")
    if status:
        lines += status
    else:
        rows = []
        for engine, d in sso["engines"].items():
            rows.append([
                engine, d["count"], d["cpu_ms"], d["cpu_ms_min"], d["cpu_ms_schedstat"],
                d.get("db_backend_cpu_ms"), d.get("cpu_ms_with_db", d["cpu_ms"]),
                _rounds(d["cpu_ms_rounds"]), d["per_s"],
            ])
        lines += _table([
            "Database", "Flows", "CPU ms/flow (stat, median)", "Best round", "schedstat",
            "PostgreSQL backend ms/flow", "Total ms/flow", "Rounds (stat)",
            "Wall flows/s (1 client)",
        ], rows)
    lines += ["### Side by side with node-oidc-provider (interleaved rounds)", ""]
    status = _status_line(node, "node")
    if status:
        return lines + status
    lines += [
        f"Both providers run at the same time; the benchmark alternates rounds of "
        f"{node['count'] // node['rounds']} flows on each ({node['rounds']} rounds), so "
        "that other load on the machine weighs on both alike. The ratio is the median of "
        "the rounds' ratios (ours ÷ node with keep-alive), computed on the schedstat "
        "figures (same CPU time, nanosecond resolution, so that short rounds are not "
        "rounded to 10 ms ticks).",
        "",
    ]
    redis = node.get("redis") or {}
    redis_ok = redis.get("status") == "ok"
    rows = []
    for engine, d in node["ours"].items():
        rows.append([
            f"ours, gunicorn 1 sync worker, {engine}", d["count"], d["cpu_ms"],
            d["cpu_ms_schedstat"], d.get("db_backend_cpu_ms"), None,
            d.get("cpu_ms_with_db_schedstat", d["cpu_ms_schedstat"]), _rounds(d["cpu_ms_rounds"]),
            _fmt(d["ratio"], 3), _rounds(d["ratio_rounds"]),
            _verdict(d["ratio"] <= 1.0 if d["ratio"] is not None else None),
        ])
    rows.append([
        f"node-oidc-provider {node['oidc_provider']} (Node {node['node']}), memory "
        "adapter, keep-alive", node["count"], node["cpu_ms"], node["cpu_ms_schedstat"], None,
        None, node["cpu_ms_schedstat"], _rounds(node["cpu_ms_rounds"]), "1.000", "",
        "reference",
    ])
    close = node.get("connection_close")
    if close:
        rows.append([
            "node-oidc-provider, same, `Connection: close` (context)", close["count"],
            close["cpu_ms"], close["cpu_ms_schedstat"], None, None, close["cpu_ms_schedstat"],
            _rounds(close["cpu_ms_rounds"]),
            "", "", "",
        ])
    floor = node.get("floor")
    if floor:
        rows.append([
            "stack floor (`bench/floor_app.py`: gunicorn 1 sync worker, Flask, one RS256 "
            "signature, nothing stored) (context)", floor["count"], floor["cpu_ms"],
            floor["cpu_ms_schedstat"], None, None, floor["cpu_ms_schedstat"],
            _rounds(floor["cpu_ms_rounds"]), _fmt(floor["ratio"], 3),
            _rounds(floor["ratio_rounds"]), "context",
        ])
    if redis_ok:
        rows.append([
            f"node-oidc-provider, same, Redis adapter (ioredis {redis.get('ioredis')}, "
            f"Redis {redis.get('version')}), keep-alive (context)", redis["count"],
            redis["cpu_ms"], redis["node_only_schedstat"], None,
            redis.get("redis_cpu_ms_schedstat"),
            redis.get("cpu_ms_with_db_schedstat", redis["cpu_ms_schedstat"]),
            _rounds(redis["cpu_ms_rounds"]), "", "", "context",
        ])
    lines += _table([
        "Server", "Flows", "CPU ms/flow (stat)", "schedstat", "PostgreSQL backend ms/flow",
        "Redis server ms/flow", "Total ms/flow (schedstat)", "Rounds (stat)", "Ratio to node",
        "Rounds' ratios", "≤ 1.0",
    ], rows)
    lines += [
        "node-oidc-provider runs `bench/node_op/server.mjs`: the same client "
        "(client_secret_basic, PKCE required, pairwise subject, RS256 ID tokens, a refresh "
        "token with each code exchange as ours gives confidential clients), an account "
        "with the same claims, and a minimal interaction that logs a fixed account in "
        "and grants the scopes without a page. It keeps its state in its default "
        "in-memory adapter (no database), so its numbers have no storage cost at all, "
        "while ours include SQLite in the worker process, or the PostgreSQL driver in "
        "the worker plus the backends. The reference is node with its connections kept "
        "alive (its normal behaviour, and the stricter comparison for us); gunicorn's "
        "sync worker closes every connection, so node with `Connection: close` is shown "
        "for context.",
        "",
    ]
    lines += _node_redis(node, redis)
    if node.get("warnings"):
        lines += ["node-oidc-provider (memory adapter) printed: " + "; ".join(
            f"`{w}`" for w in node["warnings"]) + ".", ""]
    redis_warnings = (node.get("redis") or {}).get("warnings")
    if redis_warnings:
        lines += ["node-oidc-provider (Redis adapter) printed: " + "; ".join(
            f"`{w}`" for w in redis_warnings) + ".", ""]
    return lines


def _node_redis(node: dict, redis: dict) -> list[str]:
    """The node+Redis context row's explanation, its ratios and the Redis checks."""
    if not redis:
        return []
    if redis.get("status") != "ok":
        return [f"node-oidc-provider with a Redis adapter (context row) was not measured: "
                f"{redis.get('reason') or 'not run'}.", ""]
    lines = [
        "The Redis row is node-oidc-provider with the storage its documentation asks for "
        "in production (its in-memory adapter is for development only): "
        "`bench/node_op/redis_adapter.mjs`, the layout of the repository's "
        "`example/adapters/redis.js` on `ioredis`, run as a second node process in the "
        "same interleaved rounds, with the CPU of `redis-server` (from "
        "`/proc/<pid>/stat`) in its own column and in the total, like the PostgreSQL "
        "backends for ours; it is context, the verdict stays against the memory adapter.",
        "",
        "**Context, not a verdict**: ours ÷ node-oidc-provider with Redis (median of the "
        "rounds' ratios, schedstat; ours with its PostgreSQL backends, node with the "
        "Redis server).",
        "",
    ]
    rows = []
    for engine, d in node["ours"].items():
        if d.get("ratio_to_redis") is None:
            continue
        rows.append([
            f"ours ({engine}) / node-oidc-provider + Redis",
            f"{d.get('cpu_ms_with_db_schedstat', d['cpu_ms_schedstat']):.2f} ms / "
            f"{redis.get('cpu_ms_with_db_schedstat', redis['cpu_ms_schedstat']):.2f} ms",
            _fmt(d["ratio_to_redis"], 3), _rounds(d.get("ratio_to_redis_rounds") or []),
            _fmt(d.get("ratio_to_redis_node_only"), 3),
        ])
    lines += _table(["Context", "Measured (total ms/flow)", "Ratio (incl. Redis server)",
                     "Rounds' ratios", "Ratio to the node process alone"], rows)
    bg = redis.get("background") or {}
    idle = redis.get("idle") or {}
    own = redis.get("redis_cpu_ms_schedstat")
    share = (f" ({bg['cpu_ms_per_flow'] / own:.0%} of the Redis column)"
             if own and bg.get("cpu_ms_per_flow") is not None else "")
    lines += [
        f"Redis: {redis.get('version')} at `{redis.get('url')}`, keys under the run's own "
        f"prefix `{redis.get('prefix')}`, {_fmt(redis.get('keys_deleted'))} keys deleted "
        f"at the end ({_fmt(redis.get('keys_left'))} left); "
        f"{_fmt(redis.get('redis_commands_per_flow'), 1)} Redis commands per flow. The "
        "`redis-server` process is shared with other programs of this machine, so their "
        "load on it would be counted in the Redis column: as a check, while the other "
        "servers' rounds ran (none of ours talks to Redis then) it used "
        f"{_fmt(bg.get('cpu_ms_per_s'), 3)} ms of CPU per second and processed "
        f"{_fmt(bg.get('commands_per_s'), 1)} commands/s (before the rounds, idle: "
        f"{_fmt(idle.get('cpu_ms_per_s'), 3)} ms/s, {_fmt(idle.get('commands_per_s'), 1)} "
        "commands/s); at that rate the background accounts for "
        f"{_fmt(bg.get('cpu_ms_per_flow'), 3)} ms of each node+Redis flow{share}. "
        "`redis-server` is outside the benchmark's process tree, so the table of other "
        "work on the machine below counts its CPU, the part this row caused included.",
        "",
    ]
    if redis.get("note"):
        lines += [f"Note: {redis['note']}.", ""]
    if redis.get("cleanup_error"):
        lines += [f"**Redis cleanup failed**: {redis['cleanup_error']}.", ""]
    return lines


def _section_login(s: dict) -> list[str]:
    lines = ["## 3. Password login against one argon2id verify", ""]
    login = s.get("login")
    status = _status_line(login, "login")
    if status:
        return lines + status
    lines += [
        f"One argon2id verify ({login['argon2_params']}, argon2-cffi) is measured in the "
        "benchmark process with `time.process_time()`, under the same environment as the "
        "server (the glibc tunables `idp serve` sets, see Machine). One login = "
        "`GET /login?flow=…` "
        "(the French login page) + `POST /login` (identifier, password, CSRF token) → 302 "
        "to `/authorize/resume`, by a new browser each time; the `GET /authorize` that "
        "creates the pending flow comes before and is not measured. CPU of the gunicorn "
        "worker from `/proc/<pid>/stat` around each login, summed. Rounds of logins and "
        "rounds of as many verifies alternate; the ratio is the median of the rounds' "
        "ratios, computed on the schedstat figures.",
        "",
    ]
    rows = []
    for engine, d in login["engines"].items():
        total = d.get("cpu_ms_with_db_schedstat", d["cpu_ms_schedstat"])
        a = d["argon2"]
        rows.append([
            engine, d["count"], a["cpu_ms"], d["cpu_ms"], d["cpu_ms_schedstat"],
            d.get("db_backend_cpu_ms"), total, total - a["cpu_ms"], _rounds(d["cpu_ms_rounds"]),
            d["per_s"], _fmt(d["ratio"], 3), _rounds(d["ratio_rounds"]),
            _verdict(d["ratio"] <= 1.1 if d["ratio"] is not None else None),
        ])
    floor = login.get("floor")
    if floor:
        a = floor["argon2"]
        rows.append([
            "stack floor (`bench/floor_app.py`, context)", floor["count"], a["cpu_ms"],
            floor["cpu_ms"], floor["cpu_ms_schedstat"], None, floor["cpu_ms_schedstat"],
            floor["cpu_ms_schedstat"] - a["cpu_ms"], _rounds(floor["cpu_ms_rounds"]),
            floor["per_s"], _fmt(floor["ratio"], 3), _rounds(floor["ratio_rounds"]), "context",
        ])
    lines += _table([
        "Database", "Logins", "One verify, CPU ms", "Login CPU ms (stat)", "schedstat",
        "PostgreSQL backend ms", "Total ms/login (schedstat)", "Beyond one verify (ms)",
        "Rounds (stat)", "Logins/s (1 client)", "Ratio", "Rounds' ratios", "≤ 1.1",
    ], rows)
    return lines


def _section_static(s: dict) -> list[str]:
    lines = ["## 4. Discovery and JWKS against a bare Flask endpoint", ""]
    st = s.get("static")
    status = _status_line(st, "static")
    if status:
        return lines + status
    lines += [
        f"Load generator: {st['generator']}, {st['connections']} connections, "
        f"{st['seconds']:.0f} s per server and endpoint in {st.get('slices', 2)} alternating "
        "slices (app, bare, app, bare, …) after a 1 s warm-up of each; the ratio is the "
        "median of the slices' ratios, so that other load on the machine weighs on both "
        "sides alike. Both servers: gunicorn, 1 sync worker, no "
        "access log. The bare app (`bench/bare_app.py`) returns with `jsonify` the same "
        f"JSON value as the provider ({st['bytes']['discovery']:,} bytes of discovery, "
        f"{st['bytes']['jwks']:,} bytes of JWKS) as a constant, without hooks or headers of "
        "its own. Server CPU per request from the worker's `/proc/<pid>/stat`.",
        "",
    ]
    rows = []
    for name, d in st["endpoints"].items():
        for who in ("app", "bare"):
            r = d[who]
            rows.append([
                f"{name} — {'provider' if who == 'app' else 'bare Flask'}",
                r["requests_per_s"], " / ".join(f"{v:,.0f}" for v in r["runs_requests_per_s"]),
                " / ".join(f"{v:.2f}" for v in d["slice_ratios"]) if who == "app" else "",
                r["requests"], r["server_cpu_us_per_request"], r.get("latency_p50"),
                r.get("latency_p99"), r["non_2xx"],
                _fmt(d["ratio"], 3) if who == "app" else "",
                _verdict(d["ratio"] >= 0.8) if who == "app" else "",
            ])
    small = st.get("bare_small")
    if small:
        rows.append(["small constant JSON — bare Flask (reference)", small["requests_per_s"],
                     "", "", small["requests"], small["server_cpu_us_per_request"],
                     small.get("latency_p50"), small.get("latency_p99"), small["non_2xx"],
                     "", ""])
    lines += _table([
        "Endpoint", "Requests/s (mean)", "Slices (req/s)", "Slice ratios", "Requests",
        "Server CPU µs/request",
        "p50 ms", "p99 ms", "Non-2xx", "Ratio to bare", "≥ 0.8",
    ], rows)
    return lines


def _section_scale(s: dict) -> list[str]:
    sc = s.get("scale")
    sizes = sc.get("sizes") if sc else None
    small, large = sizes if sizes else (10_000, 1_000_000)
    lines = [f"## 5. Scale: {small:,} against {large:,} accounts", ""]
    status = _status_line(sc, "scale")
    if status:
        return lines + status
    lines += [
        f"The same measurements as sections 1 and 3 on two databases of each engine, one "
        f"with {small:,} accounts and one with {large:,}, served side by side (one "
        "gunicorn each); rounds of logins and of SSO flows alternate between them and "
        "each ratio is the median of the rounds' ratios (schedstat CPU). Filler accounts "
        "are inserted in bulk with SQL (column set of "
        "`migrations/versions/0001_provider_core.py`, one shared precomputed argon2id "
        "hash, unique identifiers and public ids): SQLite with `executemany` in one "
        "transaction, PostgreSQL with `COPY`, then `ANALYZE`. The benchmark account is "
        "the first one.",
        "",
    ]
    rows = []
    for engine, d in sc["engines"].items():
        for size in (small, large):
            e = d["sizes"][str(size)]
            rows.append([
                engine, e["accounts"], f"{e['inserted']:,} in {e['insert_s']:.1f} s",
                e["login"]["cpu_ms"], e["login"].get("db_backend_cpu_ms"),
                e["sso"]["cpu_ms"], e["sso"].get("db_backend_cpu_ms"),
            ])
    lines += _table([
        "Database", "Accounts", "Bulk insert", "Login CPU ms (worker)",
        "Login PostgreSQL backend ms", "SSO flow CPU ms (worker)", "SSO PostgreSQL backend ms",
    ], rows)
    rows = []
    for engine, d in sc["engines"].items():
        for what in ("login", "sso"):
            r = d[f"{what}_ratio"]
            rwd = d.get(f"{what}_ratio_with_db")
            decisive = rwd if rwd is not None else r
            rounds_ = d.get(f"{what}_ratio_with_db_rounds") or d.get(f"{what}_ratio_rounds")
            rows.append([engine, "login" if what == "login" else "SSO flow (token + userinfo)",
                         _fmt(r, 3), _fmt(rwd, 3), _rounds(rounds_ or []),
                         _verdict(decisive <= 1.2 if decisive is not None else None)])
    lines += _table(["Database", "Cost", f"Ratio {large:,} / {small:,} (worker)",
                     "Ratio incl. PostgreSQL backend", "Rounds' ratios", "≤ 1.2"], rows)
    return lines


def _section_import(s: dict) -> list[str]:
    lines = ["## 6. SIECLE import", ""]
    imp = s.get("import")
    status = _status_line(imp, "import")
    if status:
        return lines + status
    lines += [
        "Measured by `bench/bench_import.py` (`run(report)`), called in a fresh process by "
        "`bench/import_runner.py` so that its peak RSS is its own.",
        "",
    ]
    rows = [[m["name"], _fmt(m["value"]), m.get("unit") or "", m.get("target") or "",
             _verdict(m.get("pass"))] for m in import_measurements(imp)]
    if rows:
        lines += _table(["Measurement", "Value", "Unit", "Target", "Result"], rows)
    for table in imp.get("tables") or []:
        lines += [f"**{table['title']}**", ""] + _table(table["headers"], table["rows"])
    lines += [f"- {n}" for n in imp.get("notes") or []]
    values = imp.get("values") or {}
    if values and imp.get("measurements"):
        shown = [[k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)[:160]]
                 for k, v in values.items()]
        lines += ["", "All values reported by the import benchmark:", ""]
        lines += _table(["Name", "Value"], shown)
    return lines + [""]


def _interference(results: dict) -> list[str]:
    rows = []
    for name, data in results["sections"].items():
        i = data.get("interference")
        if not i:
            continue
        waited = i.get("waited_s")
        rows.append([name, data.get("section_s"), i["other_cores"],
                     f"{waited:.0f} s, then {i.get('quiet_cores', 0):.2f} cores"
                     if waited is not None else "—",
                     "; ".join(i["top"]) or "—"])
    if not rows:
        return []
    return [
        "### Other work on the machine during the run",
        "",
        "Other people's processes share this machine. For each section: the CPU used by "
        "processes outside the benchmark's process tree and other than PostgreSQL's (part "
        "of which is ours), averaged over the section's duration, in cores. Before each "
        "section the benchmark waits (boundedly) for the machine to be quiet (other "
        "processes under 0.25 cores over 2 s); the wait column says how long it waited "
        "and what was left. The CPU "
        "figures above are per process and hold under such load (though caches and the "
        "scheduler are shared); the requests-per-second and flows-per-second figures do "
        "not, which is why section 4 alternates its servers in short slices.",
        "",
    ] + _table(["Section", "Duration (s)", "Other processes (cores)", "Wait for quiet",
                "Largest other consumers (CPU s)"], rows)


def _method(results: dict) -> list[str]:
    return _method_text(results) + _interference(results)


def _method_text(results: dict) -> list[str]:
    m = results["machine"]
    return [
        "## Method and caveats",
        "",
        f"- Everything runs on this one {m['cores']}-core machine: the server under test, "
        "the client that drives it (Python `requests`, one flow at a time), and the load "
        "generator. Only the server's own CPU is counted (the gunicorn worker or the node "
        "process, read from `/proc`), so the client's work does not inflate the CPU "
        "figures; it does limit the wall-clock rates (flows/s, logins/s), which are given "
        "for orientation only.",
        "- The provider runs as a real process: `gunicorn idp.wsgi:app`, 1 sync worker, on a "
        "temporary database prepared with `idp db upgrade`, `idp clients add` and `idp "
        "accounts create`, with `IDP_ENV=testing`, an http issuer on 127.0.0.1, JSON logs "
        "at INFO as in production (the audit trail is written to the database and to the "
        "log) and the per-IP login rate limit raised so that the benchmark is not refused. "
        "gunicorn's sync worker closes the connection after each response: each request "
        "pays a TCP connection, node keeps its connections alive.",
        "- With PostgreSQL, part of the work runs in the PostgreSQL backend processes "
        "serving the worker's connections (found by `application_name` in "
        "`pg_stat_activity`); their CPU is read from `/proc` too and shown apart and in the "
        "totals. The PostgreSQL server itself is the machine's (default configuration, "
        "`synchronous_commit=on`).",
        "- `/proc/<pid>/stat` counts in clock ticks (10 ms); each figure sums many flows so "
        "that the tick is small against the total, and the schedstat column (nanoseconds) "
        "cross-checks it.",
        "- node-oidc-provider keeps everything in memory (its default development adapter): "
        "the comparison is against a provider that does no storage I/O at all. The "
        "node-oidc-provider + Redis row (its production-shaped storage) is context only; "
        "its Redis column is the CPU of the shared `redis-server`, checked for other "
        "clients' load during the run.",
        "- Rounds: each CPU figure is the median of "
        f"{results['settings']['rounds']} rounds; the rounds are listed to show the spread.",
        "- Loops are bounded in count (and the load generator in time), traffic goes only to "
        "127.0.0.1, temporary databases and schemas are removed at the end.",
        "",
        "Reproduce: `make bench` (about 10–15 minutes); `.venv/bin/python -m bench --quick` "
        "for a smoke run, `--only sso,node,login,static,scale,import` for some sections "
        "(those runs write `bench/.work/performance.md` unless `--output` is given).",
        "",
    ]
