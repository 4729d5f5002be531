"""What the monitoring tests need of PromQL: the metric names an expression reads, every name
the code exports, and promtool's parse of expressions.

`metric_names` is a tokenizer, not a parser: it drops string literals, label matchers, range
and subquery brackets and grouping clauses, then keeps each identifier that is not a function
call or a keyword. `promtool_accepts` parses with Prometheus itself, so an expression the
tokenizer misreads still fails there if it is not PromQL.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
# Grafana's variables, as promtool must read them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
# Series prometheus_client writes for each type of metric family.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub("", text)
    return {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }


def exported_by_code() -> set[str]:
    """Every series name the Prometheus metrics defined in voka/ and services/ write: each
    module that uses prometheus_client is imported, then the default registry is read."""
    for path in sorted([*ROOT.glob("voka/**/*.py"), *ROOT.glob("services/**/*.py")]):
        if "prometheus_client" in path.read_text():
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return {
        family.name + suffix for family in REGISTRY.collect() for suffix in _SUFFIXES[family.type]
    }


def with_suffixes(names: Iterable[str]) -> set[str]:
    """An exporter's metric names and the series a histogram or summary of each would have."""
    return {name + suffix for name in names for suffix in ("", "_bucket", "_count", "_sum")}


def promtool_accepts(exprs: Iterable[str], directory: Path) -> None:
    """Raises with promtool's complaint unless every expression parses (as recording rules)."""
    rules = []
    for number, expr in enumerate(exprs):
        plain = expr
        for variable, value in GRAFANA_VARIABLES.items():
            plain = plain.replace(variable, value)
        rules.append({"record": f"voka:expr_{number}", "expr": plain})
    path = directory / "exprs.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
