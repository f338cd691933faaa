"""otus.pgrepl.checks (action plugin) run by ansible-playbook on the controller: the cases and their
expected results are in tests/checks/cases.yml; the run fails if any result differs."""

from __future__ import annotations

from conftest import ROOT, run_playbook


def test_the_checks_cases_pass():
    cases = ROOT / "tests" / "checks" / "cases.yml"
    result = run_playbook("-i", "localhost,", "-c", "local", str(cases), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every case ran: nine checks tasks (eight of them failing, as they should) and the assert.
    assert "ok=10" in output and "failed=0" in output and "ignored=8" in output, output
