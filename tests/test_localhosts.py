"""Tests of the local-host helpers behind the invoke tasks and noxfile.py."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from tools import localhosts as lh


def _limits(nofile: int, nproc: int):
    def getrlimit(which: int) -> tuple[int, int]:
        return {resource.RLIMIT_NOFILE: (1024, nofile), resource.RLIMIT_NPROC: (512, nproc)}[which]

    return getrlimit


def test_ulimits_never_exceed_the_hard_limits():
    limits = lh.derive_ulimits(_limits(1024, 300))
    assert limits == lh.Ulimits(nofile=1024, nproc=300)
    assert limits.as_podman() == ["nofile=1024:1024", "nproc=300:300"]


def test_ulimits_are_capped_when_the_hard_limits_are_huge():
    limits = lh.derive_ulimits(_limits(resource.RLIM_INFINITY, 10**7))
    assert limits == lh.Ulimits(nofile=lh.NOFILE_CAP, nproc=lh.NPROC_CAP)
    assert limits.as_env() == {"OTUS_PGREPL_NOFILE": "20000", "OTUS_PGREPL_NPROC": "4096"}


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("", '[engine]\nruntime = "runc"\n'),
        ('[engine]\nruntime = "crun"\n', '[engine]\nruntime = "runc"\n'),
        (
            '[containers]\nlog_driver = "k8s-file"\n\n[engine]\nevents_logger = "file"\n[network]\n',
            '[containers]\nlog_driver = "k8s-file"\n\n[engine]\nevents_logger = "file"\n'
            'runtime = "runc"\n[network]\n',
        ),
        ("[containers]\ninit = false\n", '[containers]\ninit = false\n\n[engine]\nruntime = "runc"\n'),
    ],
)
def test_containers_conf_selects_runc_and_keeps_the_rest(before: str, expected: str):
    after = lh.containers_conf_with_runc(before)
    assert after == expected
    # Applying it again changes nothing: prepare is idempotent.
    assert lh.containers_conf_with_runc(after) == after


def test_apt_mirror_is_read_from_deb822_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n"
    )
    assert lh.apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_apt_mirror_is_read_from_a_one_line_sources_list(tmp_path: Path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n"
    )
    assert lh.apt_mirror(tmp_path) == "http://other.example/debian"


def test_apt_mirror_falls_back_to_the_default(tmp_path: Path):
    assert lh.apt_mirror(tmp_path) == lh.DEFAULT_MIRROR


class FakePodman:
    """Records podman calls and answers listings from fixed state."""

    def __init__(self, containers: list[str], networks: list[str]):
        self.containers = containers
        self.networks = networks
        self.calls: list[list[str]] = []

    def __call__(self, argv):
        argv = list(argv)
        self.calls.append(argv)
        out = ""
        if argv[:2] == ["podman", "ps"]:
            assert f"label={lh.PROJECT_LABEL}" in argv
            out = "\n".join(self.containers)
        elif argv[:3] == ["podman", "network", "ls"]:
            out = "\n".join(self.networks)
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")


def test_clean_removes_only_this_projects_objects():
    fake = FakePodman(["node1", "node2"], ["podman", "otus-pgrepl-smoke", "someone-else"])
    containers, networks = lh.clean(fake)
    assert containers == ["node1", "node2"]
    assert networks == ["otus-pgrepl-smoke"]
    assert ["podman", "rm", "-f", "-t", "0", "node1", "node2"] in fake.calls
    assert ["podman", "network", "rm", "-f", "otus-pgrepl-smoke"] in fake.calls
    removed = [c for c in fake.calls if "rm" in c]
    assert not any("someone-else" in c or c[-1] == "podman" for c in removed)


def test_clean_of_one_scenario_leaves_the_others_running():
    fake = FakePodman(["node1", "barman", "db1"], ["otus-pgrepl-failover", "otus-pgrepl-ownhosts"])
    cleaned = lh.clean(fake, hosts=["db1", "db2"], network="otus-pgrepl-ownhosts")
    assert cleaned == (["db1"], ["otus-pgrepl-ownhosts"])
    removed = [c for c in fake.calls if "rm" in c]
    assert not any("node1" in c or "barman" in c or "otus-pgrepl-failover" in c for c in removed)


def test_clean_with_nothing_stale_removes_nothing():
    fake = FakePodman([], ["podman"])
    assert lh.clean(fake) == ([], [])
    assert not [c for c in fake.calls if "rm" in c]


def test_require_podman_names_what_to_install(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: None)
    with pytest.raises(lh.PrerequisiteError, match="invoke machine.prepare") as err:
        lh.require_podman()
    assert "podman" in str(err.value) and "runc" in str(err.value)


def test_require_podman_asks_for_root(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(lh, "is_root", lambda: False)
    with pytest.raises(lh.PrerequisiteError, match="as root"):
        lh.require_podman()


ROLES = (
    Path(__file__).resolve().parents[1] / "collections" / "ansible_collections" / "otus" / "pgrepl" / "roles"
)


def _role_apt_packages() -> set[str]:
    """Every package the roles install with apt (directly or through the packages entry point), PG 17."""
    import yaml  # noqa: PLC0415

    names: set[str] = set()
    lists = {}
    for vars_file in ROLES.glob("*/vars/main.yml"):
        for key, value in (yaml.safe_load(vars_file.read_text()) or {}).items():
            if key.endswith("__packages"):
                lists[key] = value
    for tasks_file in ROLES.glob("*/tasks/*.yml"):
        stack = list(yaml.safe_load(tasks_file.read_text()) or [])
        while stack:
            task = stack.pop()
            if not isinstance(task, dict):
                continue
            stack += task.get("block", []) + task.get("rescue", []) + task.get("always", [])
            apt = task.get("ansible.builtin.apt")
            include = task.get("ansible.builtin.include_role") or {}
            if include.get("tasks_from") == "packages":
                # The postgresql role's packages entry point: the list comes in its vars.
                wanted = task["vars"]["postgresql_packages"]
            elif isinstance(apt, dict) and "name" in apt and apt.get("state", "present") == "present":
                wanted = apt["name"]
            else:
                continue
            wanted = wanted if isinstance(wanted, list) else [wanted]
            for item in wanted:
                used = [v for k, v in lists.items() if k in item]
                names.update(p for values in used for p in values)
                if not used and "{{" not in item:
                    names.add(item)
    return {n.replace("{{ postgresql_version }}", "17") for n in names}


def test_the_prefilled_cache_holds_every_package_the_roles_install():
    found = _role_apt_packages()
    assert "postgresql-17" in found and "barman" in found  # the reader found the install tasks
    assert found <= set(lh.PREFILL_PACKAGES), (
        f"add to PREFILL_PACKAGES: {sorted(found - set(lh.PREFILL_PACKAGES))}"
    )


def test_prefill_downloads_once_then_reads_the_stamp(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lh, "APT_CACHE", tmp_path)
    calls = []

    def runner(argv):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    limits = lh.Ulimits(nofile=100, nproc=10)
    assert lh.prefill_apt_cache(limits, runner) is True
    assert lh.prefill_apt_cache(limits, runner) is False
    assert len(calls) == 1
    argv = calls[0]
    assert argv[:3] == ["podman", "run", "--rm"] and "nofile=100:100" in argv
    assert f"{tmp_path}:/var/cache/apt/archives" in argv
    assert "--download-only" in argv[-1] and "postgresql-17" in argv[-1]


def test_a_failed_prefill_says_what_failed_and_leaves_no_stamp(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lh, "APT_CACHE", tmp_path)

    def runner(argv):
        return subprocess.CompletedProcess(argv, 100, "", "E: Unable to locate package barman\n")

    with pytest.raises(lh.PrerequisiteError, match="Unable to locate package barman"):
        lh.prefill_apt_cache(lh.Ulimits(nofile=100, nproc=10), runner)
    assert not (tmp_path / lh.PREFILL_STAMP).exists()
