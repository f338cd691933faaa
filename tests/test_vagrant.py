"""The Vagrantfile is valid and provisions the collection's site playbook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VAGRANTFILE = ROOT / "Vagrantfile"


def test_vagrantfile_points_at_real_files_and_the_default_addresses():
    text = VAGRANTFILE.read_text()
    playbook = re.search(r'ansible\.playbook = "([^"]+)"', text).group(1)
    assert (ROOT / playbook).is_file()
    for host, last in (("node1", 11), ("node2", 12), ("barman", 13)):
        assert re.search(rf'"{host}"\s+=> {{ ip: "#{{NET}}\.{last}"', text), host
    assert 'ENV.fetch("PGREPL_NET", "192.168.57")' in text
    for group in ("postgresql_primary", "postgresql_standby", "barman"):
        assert f'group: "{group}"' in text


def _validate(cwd: Path, box: str) -> subprocess.CompletedProcess[str]:
    # -p (--ignore-provider): validate the Vagrantfile itself; a machine with
    # no VirtualBox or libvirt (CI, a fresh clone) has no default provider.
    env = dict(os.environ, PGREPL_BOX=box, VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_CWD=str(cwd))
    return subprocess.run(
        ["vagrant", "validate", "-p"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


needs_vagrant = pytest.mark.skipif(
    shutil.which("vagrant") is None, reason="vagrant is not installed (.ci/run installs it)"
)


@needs_vagrant
@pytest.mark.parametrize("box", ["debian/trixie64", "ubuntu/noble64"])
def test_vagrant_validate(box):
    result = _validate(ROOT, box)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def _copy_with(tmp_path: Path, text: str) -> Path:
    """A stand-in checkout: this Vagrantfile text beside links to what it names."""
    tmp_path.mkdir()
    (tmp_path / "Vagrantfile").write_text(text)
    for name in ("collections", "ansible.cfg", "stand"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@needs_vagrant
@pytest.mark.parametrize(
    ("label", "breakage"),
    [
        (
            "a setting the provisioner rejects",
            ('ansible.compatibility_mode = "2.0"', 'ansible.compatibility_mode = "9"'),
        ),
        ("a setting Vagrant does not know", ("node.vm.hostname = name", "node.vm.hostnam = name")),
    ],
)
def test_vagrant_validate_refuses_a_broken_vagrantfile(tmp_path, label, breakage):
    """The check above can fail: the same copy validates, the broken one does not."""
    good = VAGRANTFILE.read_text()
    assert _validate(_copy_with(tmp_path / "good", good), "debian/trixie64").returncode == 0
    broken = good.replace(*breakage)
    assert broken != good, label
    result = _validate(_copy_with(tmp_path / "broken", broken), "debian/trixie64")
    assert result.returncode != 0, f"{label}: {result.stdout}"
    assert "validated successfully" not in result.stdout
