"""Tests of the local-host helpers behind tasks.py and noxfile.py."""

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
