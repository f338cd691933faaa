"""Role conventions: defaults mirrored in argument_specs, preflight first, READMEs."""

from __future__ import annotations

import re
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
        if "ansible.builtin.import_playbook" in play:
            continue
        if play.get("strategy") == "ansible.builtin.free":
            # free ignores any_errors_fatal: the next play must be the gate
            gate = plays[index + 1]
            assert gate.get("any_errors_fatal") is True, play["name"]
            imports = [t.get("ansible.builtin.import_tasks") for t in gate["tasks"]]
            assert "tasks/all_hosts_still_in.yml" in imports, play["name"]
            # Before it only the put-back of files whose restart a stopped run would never prove.
            before = gate["tasks"][: imports.index("tasks/all_hosts_still_in.yml")]
            puts_back = [t.get("ansible.builtin.include_role", {}).get("tasks_from") for t in before]
            assert set(puts_back) <= {"put_back_pending"}, play["name"]
        else:
            assert play.get("any_errors_fatal") is True, play["name"]


def test_the_gate_stops_the_run_when_a_host_dropped_out():
    (gate,) = load(COLLECTION / "playbooks" / "tasks" / "all_hosts_still_in.yml")
    that = gate["ansible.builtin.assert"]["that"]
    assert that == "ansible_play_hosts | length == ansible_play_hosts_all | length"
    assert gate["run_once"] is True


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


# Entry points: every `tasks_from` anywhere in the project (the collection's playbooks and roles, the
# scenarios, the test and stand playbooks) names an entry point its role declares in meta/argument_specs.yml,
# so Ansible validates the variables it reads when it is entered, as it does for main.
REPO = COLLECTION.parents[3]
ENTRY_SOURCES = [
    COLLECTION / "playbooks",
    COLLECTION / "roles",
    REPO / "molecule",
    REPO / "tests",
    REPO / "stand",
]
ROLE_INCLUDES = {
    f"{prefix}{key}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for key in ("include_role", "import_role")
}
TASKS_FROM_LINE = re.compile(r"^\s*(?:-\s+)?tasks_from:", re.MULTILINE)


def _role_entries(node, where: str) -> list[tuple[str, str]]:
    """(role, tasks_from) of each include_role/import_role (or `roles:` item) with tasks_from in a file."""
    found = []
    if isinstance(node, list):
        for item in node:
            found += _role_entries(item, where)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ROLE_INCLUDES and isinstance(value, dict) and "tasks_from" in value:
                names = [value["name"]]
                if "{{" in value["name"]:
                    # A role chosen by a loop over literal names (the site's database roles' checks).
                    literal = value["name"].replace(" ", "") == "{{item}}" and isinstance(
                        node.get("loop"), list
                    )
                    assert literal, f"{where}: cannot tell which role {value['name']!r} is"
                    names = node["loop"]
                found += [(name, value["tasks_from"]) for name in names]
            elif key == "roles" and isinstance(value, list):
                found += [
                    (r.get("role") or r["name"], r["tasks_from"])
                    for r in value
                    if isinstance(r, dict) and "tasks_from" in r
                ]
        for value in node.values():
            found += _role_entries(value, where)
    return found


def _used_entry_points() -> list[tuple[str, str, str]]:
    """(role, entry point, where) of every tasks_from on a role of this collection."""
    used = []
    for source in ENTRY_SOURCES:
        for path in sorted(source.rglob("*.y*ml")):
            text = path.read_text()
            lines = len(TASKS_FROM_LINE.findall(text))
            if not lines:
                continue
            where = str(path.relative_to(REPO))
            entries = _role_entries(yaml.safe_load(text), where)
            # Every tasks_from line is understood: none slips past the checks below.
            assert len(entries) >= lines, f"{where}: {lines} tasks_from lines, {len(entries)} understood"
            for name, entry in entries:
                if name.startswith("otus.pgrepl."):
                    used.append((name.removeprefix("otus.pgrepl."), re.sub(r"\.ya?ml$", "", entry), where))
    return used


USED_ENTRY_POINTS = _used_entry_points()


def _specs(role: Path) -> dict:
    return (load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {}


def test_entry_points_are_found() -> None:
    """The search sees the entry points the playbooks use (an empty search would pass everything)."""
    found = {(role, entry) for role, entry, _ in USED_ENTRY_POINTS}
    assert {("postgresql", "discover"), ("barman", "repoint"), ("postgresql_tls", "issue")} <= found
    assert ("postgresql_install", "preflight") in found  # through the site's loop over role names
    assert len(found) >= 15


@pytest.mark.parametrize(
    ("role", "entry", "where"),
    [
        pytest.param(
            *used,
            id=f"{used[0]}:{used[1]}@{used[2].removeprefix('collections/ansible_collections/otus/pgrepl/')}",
        )
        for used in USED_ENTRY_POINTS
    ],
)
def test_every_entry_point_in_use_is_declared(role: str, entry: str, where: str) -> None:
    path = COLLECTION / "roles" / role
    assert (path / "tasks" / f"{entry}.yml").exists(), f"{where}: otus.pgrepl.{role} has no tasks/{entry}.yml"
    assert entry in _specs(path), (
        f"{where}: tasks_from {entry} of otus.pgrepl.{role} is not in its meta/argument_specs.yml"
    )


# Where a role's tasks read a variable: the tasks file, the files it includes or imports from the role, the
# role's (and its dependencies') vars and defaults those name, and the templates any of them name.
_INCLUDES = {
    f"{prefix}{key}" for prefix in ("", "ansible.builtin.") for key in ("include_tasks", "import_tasks")
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEMPLATE = re.compile(r"[A-Za-z0-9_.-]+\.j2")
_JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)


def _strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif node is not None:
        yield str(node)


def _with_dependencies(role: Path) -> list[Path]:
    meta = load(role / "meta" / "main.yml") or {}
    found = [role]
    for dep in meta.get("dependencies") or []:
        name = dep["role"] if isinstance(dep, dict) else dep
        found += _with_dependencies(COLLECTION / "roles" / name.removeprefix("otus.pgrepl."))
    return found


def _task_strings(role: Path, name: str, seen: set[str]) -> list[str]:
    """The strings of a tasks file and of the role's tasks files it includes (comments left out)."""
    path = role / "tasks" / name
    if name in seen or not path.exists():
        return []
    seen.add(name)
    tasks = load(path) or []
    found = list(_strings(tasks))

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in _INCLUDES & set(node):
                included = node[key]["file"] if isinstance(node[key], dict) else node[key]
                if "{{" not in included:
                    found.extend(_task_strings(role, included, seen))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tasks)
    return found


def _reads(role: Path, entry: str) -> set[str]:
    """The role's own variables (its defaults) that an entry point may read."""
    values, templates = {}, {}
    for each in _with_dependencies(role):
        for path in sorted((each / "vars").glob("*.yml")) + [each / "defaults" / "main.yml"]:
            for name, value in (load(path) or {}).items():
                # A value reads only what its Jinja names: plain text (a message, a hint) reads nothing.
                values.setdefault(name, []).extend(_JINJA.findall(" ".join(_strings(value))))
        templates.update({p.name: p.read_text() for p in sorted((each / "templates").glob("*.j2"))})
    todo, words, seen_templates = _task_strings(role, f"{entry}.yml", set()), set(), set()
    while todo:
        text = todo.pop()
        for template in set(_TEMPLATE.findall(text)) & set(templates) - seen_templates:
            seen_templates.add(template)
            todo.append(templates[template])
        for word in set(_WORD.findall(text)) - words:
            words.add(word)
            todo.extend(values.get(word, []))
    return words & set(load(role / "defaults" / "main.yml") or {})


DECLARED_ENTRY_POINTS = [(role, entry) for role in ROLES for entry in _specs(role)]


@pytest.mark.parametrize(
    ("role", "entry"),
    [pytest.param(role, entry, id=f"{role.name}:{entry}") for role, entry in DECLARED_ENTRY_POINTS],
)
def test_entry_points_are_documented_like_main(role: Path, entry: str) -> None:
    """Each entry point has its tasks file and a description; its options are documented, typed, mirror the
    role's defaults and main's type, and cover every variable of the role it reads."""
    where = f"{role.name}:{entry}"
    assert (role / "tasks" / f"{entry}.yml").exists(), f"{where} is declared but has no tasks file"
    spec = _specs(role)[entry]
    assert spec.get("short_description") and spec.get("description"), (
        f"{where} needs short_description and description"
    )
    defaults = load(role / "defaults" / "main.yml") or {}
    main = _specs(role)["main"].get("options") or {}
    options = spec.get("options") or {}
    for name, option in options.items():
        assert option.get("description") and option.get("type"), (
            f"{where}: {name} needs a type and a description"
        )
        assert name.startswith(role.name + "_"), f"{where}: {name} lacks the role prefix"
        if name in defaults:
            mirrored = option.get("required") or ("default" in option and option["default"] == defaults[name])
            assert mirrored, f"{where}: the default of {name} differs from defaults/main.yml"
        if name in main:
            for key in ("type", "elements"):
                assert option.get(key) == main[name].get(key), f"{where}: {key} of {name} differs from main's"
            # An entry point may leave the choices to its own checks (a message naming the variable).
            assert option.get("choices") in (None, main[name].get("choices")), (
                f"{where}: choices of {name} differ"
            )
    missing = _reads(role, entry) - set(options)
    assert not missing, f"{where} reads {sorted(missing)}: declare them in its options"
