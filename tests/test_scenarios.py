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


def _shared_runs(verify: Path) -> set[str]:
    """The shared playbooks a verify runs: imported by it, or by a shared playbook it imports."""
    found: set[str] = set()
    todo = [s for s in _imports(verify) if s.startswith("../shared/")]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            nested = _imports(ROOT / "molecule" / "shared" / Path(name).name)
            todo += [f"../shared/{n}" for n in nested if not n.startswith("otus.")]
    return found


def test_grouped_scenarios_run_inside_a_scenario_nox_runs():
    assert set(noxfile.GROUPED_INTO) | set(noxfile.SCENARIOS) == set(noxfile.ALL_SCENARIOS)
    everywhere = set().union(*(_shared_runs(ROOT / "molecule" / s / "verify.yml") for s in noxfile.SCENARIOS))
    for grouped, into in noxfile.GROUPED_INTO.items():
        assert into in noxfile.SCENARIOS
        imports = _imports(ROOT / "molecule" / grouped / "verify.yml")
        shared = [s for s in imports if s.startswith("../shared/")]
        # Besides the shared checks, only the collection's own playbooks, as a user runs them.
        assert shared and set(imports) - set(shared) <= {"otus.pgrepl.site"}, grouped
        # The scenario's own checks run on the stand of its layout ...
        assert shared[0] in _shared_runs(ROOT / "molecule" / into / "verify.yml"), (grouped, into)
        # ... and what it adds (TLS in barman) runs once in the suite, wherever its hosts are.
        assert set(shared) <= everywhere, (grouped, set(shared) - everywhere)


def test_grouped_scenarios_have_a_subset_of_the_hosts_and_groups():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine, theirs = _hosts(grouped), _hosts(into)
        for host, groups in mine.items():
            assert host in theirs and groups == theirs[host], (grouped, into, host)


def test_grouped_scenarios_prepare_and_converge_the_same_way():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine = _imports(ROOT / "molecule" / grouped / "converge.yml")
        assert mine == _imports(ROOT / "molecule" / into / "converge.yml")[: len(mine)], (grouped, into)
        prepare = ROOT / "molecule" / grouped / "prepare.yml"
        if prepare.exists():
            theirs = _imports(ROOT / "molecule" / into / "prepare.yml")
            assert set(_imports(prepare)) <= set(theirs), (grouped, into)


def _group_vars(scenario: str) -> dict:
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    return config.get("provisioner", {}).get("inventory", {}).get("group_vars", {}).get("all", {})


def test_grouped_scenarios_settings_hold_where_their_checks_run():
    for grouped, into in noxfile.GROUPED_INTO.items():
        mine, theirs = _group_vars(grouped), _group_vars(into)
        assert {k: theirs.get(k) for k in mine} == mine, (grouped, into)
