"""Every molecule scenario's checks run under plain `nox`: in its own scenario, or imported by the
scenario of the same host layout that nox runs instead."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import noxfile  # noqa: E402


def _hosts(scenario: str) -> dict[str, set[str]]:
    platforms = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())["platforms"]
    return {p["name"]: set(p.get("groups", [])) for p in platforms}


def _imports(verify: Path) -> list[str]:
    plays = yaml.safe_load(verify.read_text())
    return [p["ansible.builtin.import_playbook"] for p in plays if "ansible.builtin.import_playbook" in p]


def test_grouped_scenarios_run_inside_a_scenario_nox_runs():
    assert set(noxfile.GROUPED_INTO) | set(noxfile.SCENARIOS) == set(noxfile.ALL_SCENARIOS)
    for grouped, into in noxfile.GROUPED_INTO.items():
        assert into in noxfile.SCENARIOS
        shared = _imports(ROOT / "molecule" / grouped / "verify.yml")
        assert shared and all(s.startswith("../shared/") for s in shared), grouped
        # The same checks, imported by the scenario nox runs.
        assert set(shared) <= set(_imports(ROOT / "molecule" / into / "verify.yml")), (grouped, into)


def test_grouped_scenarios_have_a_subset_of_the_hosts_and_groups():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine, theirs = _hosts(grouped), _hosts(into)
        for host, groups in mine.items():
            assert host in theirs and groups == theirs[host], (grouped, into, host)


def test_grouped_scenarios_converge_the_same_way():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine = _imports(ROOT / "molecule" / grouped / "converge.yml")
        assert mine == _imports(ROOT / "molecule" / into / "converge.yml")[: len(mine)], (grouped, into)


def _group_vars(scenario: str) -> dict:
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    return config.get("provisioner", {}).get("inventory", {}).get("group_vars", {}).get("all", {})


def test_grouped_scenarios_settings_hold_where_their_checks_run():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine, theirs = _group_vars(grouped), _group_vars(into)
        assert {k: theirs.get(k) for k in mine} == mine, (grouped, into)
