"""otus.pgrepl.checks (action plugin) run by ansible-playbook on the controller: the cases and their
expected results are in tests/checks/cases.yml; the run fails if any result differs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_checks_cases_pass():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(ROOT / "tests" / "checks" / "cases.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every case ran: eight checks tasks (seven of them failing, as they should) and the assert.
    assert "ok=9" in output and "failed=0" in output and "ignored=7" in output, output
