"""galaxy.yml declares exactly the collections the shipped content uses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tools import collection

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "collections" / "ansible_collections" / "otus" / "pgrepl"
# FQCNs in YAML/Jinja (namespace.name.plugin) and Python imports of other collections.
FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*")
IMPORT = re.compile(r"ansible_collections\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.")
# Namespaces of the running Ansible itself or of this collection, never a dependency.
NOT_DEPENDENCIES = {"ansible.builtin", "ansible.module_utils", "ansible.legacy", "otus.pgrepl"}
KNOWN_NAMESPACES = {"ansible", "community", "containers"}


def _used_collections() -> set[str]:
    used: set[str] = set()
    for path in COLLECTION.rglob("*"):
        if path.suffix not in {".yml", ".yaml", ".py", ".j2"} or "__pycache__" in path.parts:
            continue
        text = path.read_text()
        pattern = IMPORT if path.suffix == ".py" else FQCN
        for ns, name in pattern.findall(text):
            if ns in KNOWN_NAMESPACES:
                used.add(f"{ns}.{name}")
        if path.suffix == ".py":
            # DOCUMENTATION/EXAMPLES name modules of other collections too.
            used |= {
                f"{ns}.{n}" for ns, n in FQCN.findall(text) if ns in KNOWN_NAMESPACES and ns != "ansible"
            }
    return used - NOT_DEPENDENCIES


def test_dependencies_are_exactly_what_the_content_uses():
    declared = set(yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"])
    assert declared == _used_collections()


def test_no_placeholder_metadata():
    manifest = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert not any("example.invalid" in str(v) for v in manifest.values())


def test_nothing_generated_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    generated = [
        line
        for line in tracked.splitlines()
        if re.search(r"(^|/)(\.vagrant|__pycache__|\.pytest_cache|\.ruff_cache|\.nox|\.venv|dist)/", line)
        # ansible-test's results
        or "/tests/output/" in line
        or line.endswith((".pyc", ".tar.gz"))
    ]
    assert generated == []


def test_the_shipped_readme_names_every_playbook_role_and_module():
    readme = (COLLECTION / "README.md").read_text()
    playbooks = {p.stem for p in (COLLECTION / "playbooks").glob("*.yml")} - {"discover"}
    roles = {p.name for p in (COLLECTION / "roles").iterdir() if p.is_dir()}
    modules = {p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py")} - {"__init__"}
    assert {p for p in playbooks if f"otus.pgrepl.{p}" not in readme} == set()
    assert {r for r in roles | modules if f"`{r}`" not in readme} == set()
    assert "ansible-galaxy collection install" in readme


def test_the_built_collection_carries_the_changelog(tmp_path):
    collection.stage(tmp_path / "pgrepl")
    shipped = ("README.md", "CHANGELOG.md", "changelogs/changelog.yaml", "LICENSE", "galaxy.yml")
    shipped += ("meta/runtime.yml",)
    for name in shipped:
        assert (tmp_path / "pgrepl" / name).is_file(), name
    assert "requires_ansible" in (tmp_path / "pgrepl" / "meta" / "runtime.yml").read_text()
