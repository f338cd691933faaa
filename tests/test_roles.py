"""Role conventions: defaults mirrored in argument_specs, preflight first, READMEs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[1] / "collections" / "ansible_collections" / "otus" / "pgrepl"
ROLES = sorted(p for p in (COLLECTION / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def load(path: Path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_are_mirrored_in_argument_specs(role: Path):
    defaults = load(role / "defaults" / "main.yml") or {}
    specs = load(role / "meta" / "argument_specs.yml")
    assert specs, f"{role.name} has no meta/argument_specs.yml"
    options = specs["argument_specs"]["main"].get("options", {})
    assert set(defaults) == set(options), f"{role.name}: defaults and argument_specs differ"
    for name, value in defaults.items():
        assert options[name].get("default") == value, f"{role.name}: default of {name} differs"
        assert options[name].get("description"), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_variables_carry_the_role_prefix(role: Path):
    defaults = load(role / "defaults" / "main.yml") or {}
    for name in defaults:
        assert name.startswith(role.name + "_"), f"{role.name}: {name} lacks the role prefix"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_preflight_runs_first(role: Path):
    def first_file(tasks_file: str) -> str | None:
        first = load(role / "tasks" / tasks_file)[0]
        return first.get("ansible.builtin.import_tasks") or first.get("ansible.builtin.include_tasks")

    preflight = first_file("main.yml")
    # Or a file whose first step is the preflight (the postgresql role: checks, then facts, in one include).
    if preflight != "preflight.yml" and preflight and (role / "tasks" / preflight).exists():
        preflight = first_file(preflight)
    assert preflight == "preflight.yml", f"{role.name}: preflight is not first"
    assert (role / "tasks" / "preflight.yml").exists()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_has_a_readme(role: Path):
    readme = role / "README.md"
    assert readme.exists() and len(readme.read_text().strip()) > 200, f"{role.name} needs a README"


def test_site_checks_the_inventory_before_changing_anything():
    plays = load(COLLECTION / "playbooks" / "site.yml")
    first = plays[0]
    assert first["any_errors_fatal"] is True
    assert [r["role"] for r in first["roles"]] == ["otus.pgrepl.postgresql"]
    # Only checks before any change: the role (asserts, facts) and asserts.
    assert "pre_tasks" not in first
    # Then the roles' own checks, still before any change (the play after them is their gate).
    checks = plays[1]
    assert checks["strategy"] == "ansible.builtin.free"
    for task in first.get("tasks", []) + checks["tasks"]:
        include = task.get("ansible.builtin.include_role", {})
        checks_only = "ansible.builtin.assert" in task or include.get("tasks_from") in CHECK_ENTRY_POINTS
        assert checks_only, task["name"]
    for index, play in enumerate(plays[:-1]):
        if play.get("strategy") == "ansible.builtin.free":
            # free ignores any_errors_fatal: the next play must be the gate
            gate = plays[index + 1]
            assert gate.get("any_errors_fatal") is True, play["name"]
            assert "ansible_play_hosts_all" in str(gate["tasks"]), play["name"]
        else:
            assert play.get("any_errors_fatal") is True, play["name"]


# The entry points the site's first plays include: checks only, before any change.
CHECK_ENTRY_POINTS = ("preflight", "refuse")
CHECK_ONLY = {
    "ansible.builtin.assert",
    "otus.pgrepl.checks",
    "ansible.builtin.set_fact",
    "ansible.builtin.debug",
}
# Modules that only read files (the TLS preflight reads the CA and your certificates on the controller).
READ_ONLY = {
    "ansible.builtin.stat",
    "community.crypto.x509_certificate_info",
    "community.crypto.openssl_privatekey_info",
}


def _is_read(task: dict) -> bool:
    """A command that reads (e.g. systemd-analyze calendar): it changes nothing and runs under --check too."""
    command = "ansible.builtin.command" in task
    return command and task.get("changed_when") is False and task.get("check_mode") is False


def _modules(tasks: list[dict], folder: Path | None = None) -> set[str]:
    """The modules the tasks run, through blocks and the files they include from `folder`."""
    found = set()
    for task in tasks:
        if "block" in task:
            found |= _modules(task["block"], folder)
        elif "ansible.builtin.include_tasks" in task and folder is not None:
            included = yaml.safe_load((folder / task["ansible.builtin.include_tasks"]).read_text()) or []
            found |= _modules(included, folder)
        elif _is_read(task):
            continue
        else:
            found |= {k for k in task if k.startswith(("ansible.", "community.", "otus."))}
    return found


def test_preflights_only_check() -> None:
    """The site runs every role's preflight and refusals before any change: they may only check."""
    for role in ROLES:
        for name in CHECK_ENTRY_POINTS:
            path = role / "tasks" / f"{name}.yml"
            if name == "preflight" or path.exists():
                tasks = yaml.safe_load(path.read_text()) or []
                extra = _modules(tasks, role / "tasks") - CHECK_ONLY - READ_ONLY
                assert not extra, f"{role.name}/tasks/{name}.yml does more than check: {sorted(extra)}"
