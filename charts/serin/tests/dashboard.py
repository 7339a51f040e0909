"""Checks of the Grafana dashboard (dashboards/serin.json) against Grafana's own schema.

Grafana defines the dashboard JSON model (the one that declares `schemaVersion`) in CUE and
publishes it as TypeScript types in the npm package @grafana/schema: the dashboard kind
(raw/dashboard/x) and each panel plugin's options and field config (raw/composable/*).
ts-json-schema-generator turns those types into JSON Schemas (every object closed:
additionalProperties false, so a misspelt or unknown field fails), which jsonschema then
applies. The package's default dashboard declares the schemaVersion it describes; the
dashboard must declare the same.
"""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema

RAW = "node_modules/@grafana/schema/dist/esm/raw"
DASHBOARD_TYPES = f"{RAW}/dashboard/x/dashboard_types.gen"
# Panel plugin id -> its generated config types in @grafana/schema.
PANEL_TYPES = {
    "timeseries": f"{RAW}/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
    "stat": f"{RAW}/composable/stat/panelcfg/x/StatPanelCfg_types.gen",
    "state-timeline": f"{RAW}/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen",
}
GRID_COLUMNS = 24
# Grafana's variables, replaced by sample values so promtool can parse the queries.
SAMPLE_VARIABLES = {
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "1m",
    "namespace": "test",
    "primary": "podinfo-primary",
    "canary": "podinfo",
}


def schema_package_version(node_dir: Path) -> str:
    return json.loads((node_dir / "node_modules/@grafana/schema/package.json").read_text())["version"]


def declared_schema_version(node_dir: Path) -> int:
    """The schemaVersion of the package's default dashboard: the model its types describe."""
    js = (node_dir / f"{DASHBOARD_TYPES}.js").read_text()
    found = re.search(r"schemaVersion:\s*(\d+)", js)
    if not found:
        raise AssertionError("no schemaVersion in @grafana/schema's defaultDashboard")
    return int(found.group(1))


def generate_schemas(node_dir: Path) -> dict:
    """JSON Schemas of the dashboard and of each panel plugin, cached per package version."""
    cache = node_dir / "schemas" / schema_package_version(node_dir)
    sources = {"dashboard": DASHBOARD_TYPES, **PANEL_TYPES}
    missing = [name for name in sources if not (cache / f"{name}.json").is_file()]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        generator = node_dir / "node_modules/.bin/ts-json-schema-generator"
        # One process per file, all at once: each spends most of its time compiling.
        procs = {
            name: subprocess.Popen(
                [str(generator), "--path", f"{sources[name]}.d.ts", "--type", "*",
                 "--no-type-check", "-o", str(cache / f"{name}.json.tmp")],
                cwd=node_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name in missing
        }
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise AssertionError(f"ts-json-schema-generator failed for {name}: {out[-2000:]}")
            (cache / f"{name}.json.tmp").rename(cache / f"{name}.json")
    return {name: json.loads((cache / f"{name}.json").read_text()) for name in sources}


def validator(document: dict, definition: str) -> jsonschema.Draft7Validator:
    """A validator for one definition of a generated schema document."""
    if definition not in document["definitions"]:
        raise AssertionError(f"Grafana's schema has no {definition}")
    schema = {**document, "$ref": f"#/definitions/{definition}"}
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors_of(v: jsonschema.Draft7Validator, instance, where: str) -> list[str]:
    return [f"{where}/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in v.iter_errors(instance)]


def all_panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def check_schema(dashboard: dict, node_dir: Path) -> None:
    """The dashboard and each panel's options and field config against Grafana's schema."""
    version = declared_schema_version(node_dir)
    if dashboard.get("schemaVersion") != version:
        raise AssertionError(f"schemaVersion {dashboard.get('schemaVersion')}, but "
                             f"@grafana/schema {schema_package_version(node_dir)} describes {version}")
    schemas = generate_schemas(node_dir)
    errors = errors_of(validator(schemas["dashboard"], "Dashboard"), dashboard, "")
    for panel in all_panels(dashboard):
        kind = panel["type"]
        if kind == "row":
            continue
        if kind not in PANEL_TYPES:
            errors.append(f"panel {panel.get('id')}: no schema for panel type {kind}")
            continue
        where = f"panel {panel.get('id')} ({kind})"
        errors += errors_of(validator(schemas[kind], "Options"), panel.get("options", {}),
                            f"{where} options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            if "FieldConfig" not in schemas[kind]["definitions"]:
                errors.append(f"{where}: sets fieldConfig.defaults.custom, which it has none of")
            else:
                errors += errors_of(validator(schemas[kind], "FieldConfig"), custom,
                                    f"{where} fieldConfig.defaults.custom")
    if errors:
        raise AssertionError("\n".join(errors[:20]))


def check_layout(dashboard: dict) -> None:
    """Unique panel ids; panels inside the 24-column grid and not overlapping."""
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    if len(ids) != len(set(ids)):
        raise AssertionError(f"duplicate panel ids: {ids}")
    cells = {}
    for p in panels:
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] <= 0 or g["h"] <= 0 or g["x"] + g["w"] > GRID_COLUMNS:
            raise AssertionError(f"panel {p['id']} leaves the grid: {g}")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    raise AssertionError(f"panels {cells[(x, y)]} and {p['id']} overlap at {(x, y)}")
                cells[(x, y)] = p["id"]


def queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(f"panel {p['id']} {t['refId']}", t["expr"])
            for p in all_panels(dashboard) for t in p.get("targets", [])]


def check_queries(dashboard: dict, required_metrics: list[str]) -> None:
    """Every panel reads the chosen Prometheus; every variable used is defined; every
    metric the dashboard is about is queried."""
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    builtin = {"__rate_interval", "__range", "__interval"}
    for p in all_panels(dashboard):
        if p["type"] != "row" and p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            raise AssertionError(f"panel {p['id']} does not use the $datasource variable")
    texts = [expr for _, expr in queries(dashboard)]
    texts += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    for text in texts:
        for name in re.findall(r"\$\{?(\w+)", text):
            if name not in defined | builtin:
                raise AssertionError(f"undefined variable ${name} in {text}")
    joined = "\n".join(texts)
    absent = [m for m in required_metrics if m not in joined]
    if absent:
        raise AssertionError(f"no panel queries {absent}")


def check_promql(dashboard: dict) -> bool:
    """Every query parses as PromQL (promtool, with sample values for the variables).
    Returns False when promtool is not installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return False

    def substitute(expr: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: SAMPLE_VARIABLES.get(m.group(1), m.group(0)), expr)

    rules = [{"record": f"dashboard:panel_{i}", "expr": substitute(expr)}
             for i, (_, expr) in enumerate(queries(dashboard))]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        run = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True,
                             timeout=60)
    finally:
        Path(f.name).unlink()
    if run.returncode != 0:
        raise AssertionError(f"promtool: {run.stdout}{run.stderr}")
    return True
