"""checkov on the rendered prod overlay: every finding has a written reason in
k8s/checkov-waivers.yaml, and every reason there is for a finding that still occurs.

checkov runs from its own virtualenv (scripts/bootstrap.sh puts it in .venv/tools/checkov: its
dependencies conflict with the project's), offline (--skip-download)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.k8s.test_manifests import K8S, ROOT, render

CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
WAIVERS = K8S / "checkov-waivers.yaml"


def _findings(manifest: Path) -> set[tuple[str, str]]:
    result = subprocess.run(
        [str(CHECKOV), "--file", str(manifest), "--framework", "kubernetes",
         "--output", "json", "--skip-download", "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one report per framework
        (report,) = report
    if "results" not in report:  # nothing failed: checkov prints only a summary
        return set()
    return {(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]}


def test_checkov_finds_nothing_without_a_written_reason(tmp_path: Path):
    assert CHECKOV.exists(), f"checkov is missing at {CHECKOV}: run `make install`"
    manifest = tmp_path / "prod.yaml"
    manifest.write_text(yaml.safe_dump_all(render("prod"), sort_keys=False))
    findings = _findings(manifest)
    assert findings, "checkov found nothing at all: is it reading the manifest?"
    waivers = yaml.safe_load(WAIVERS.read_text())
    for check, waiver in waivers.items():
        assert len(waiver["reason"].split()) >= 10, f"{check}: give the reason"

    def waived(check: str, resource: str) -> bool:
        resources = waivers.get(check, {}).get("resources", [])
        return resources == "all" or resource in resources

    assert sorted(f for f in findings if not waived(*f)) == []
    stale = [
        (check, resource)
        for check, waiver in waivers.items()
        for resource in ([] if waiver["resources"] == "all" else waiver["resources"])
        if (check, resource) not in findings
    ]
    stale += [
        (check, "all")
        for check, waiver in waivers.items()
        if waiver["resources"] == "all" and not any(f[0] == check for f in findings)
    ]
    assert stale == [], "waivers for findings that no longer occur: remove them"
