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


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed (.ci/run installs it)")
@pytest.mark.parametrize("box", ["debian/trixie64", "ubuntu/noble64"])
def test_vagrant_validate(box):
    env = dict(os.environ, PGREPL_BOX=box, VAGRANT_CHECKPOINT_DISABLE="1")
    result = subprocess.run(
        ["vagrant", "validate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
