"""Bad input stops in the preflight checks, with a message naming the variable.

The checks run against hosts reached with the local connection; the role
under test only asserts and sets facts, so nothing on this machine changes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / "tests" / "preflight" / "check.yml"
GOOD_PASSWORD = "unit-test-only"


def inventory(primaries, standbys, **group_vars):
    def host(i: int) -> dict:
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            # One address per host, as on real hosts.
            "postgresql_host_address": f"127.0.0.{11 + i}",
        }

    names = list(primaries) + list(standbys)
    children = {
        "postgresql_primary": {"hosts": {h: host(names.index(h)) for h in primaries}},
        "postgresql_standby": {"hosts": {h: host(names.index(h)) for h in standbys}},
    }
    if group_vars.pop("groups_barman", False):
        children["barman"] = {"hosts": {"barman": host(len(names))}}
        group_vars.setdefault("postgresql_barman_password", GOOD_PASSWORD)
        group_vars.setdefault("postgresql_barman_streaming_password", GOOD_PASSWORD)
    return {
        "all": {
            "vars": {"postgresql_replication_password": GOOD_PASSWORD, **group_vars},
            "children": children,
        }
    }


def run_checks(tmp_path: Path, inv: dict, host_vars: dict | None = None) -> subprocess.CompletedProcess[str]:
    inv_file = tmp_path / "inventory.yml"
    if host_vars:
        for group in inv["all"]["children"].values():
            for host, extra in host_vars.items():
                if host in group["hosts"]:
                    group["hosts"][host].update(extra)
    inv_file.write_text(yaml.safe_dump(inv))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        ["ansible-playbook", "-i", str(inv_file), str(PLAYBOOK)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_good_inventory_passes(tmp_path):
    result = run_checks(tmp_path, inventory(["node1"], ["node2", "node3"]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_good_inventory_with_barman_and_extra_lines_passes(tmp_path):
    line = {
        "type": "host",
        "database": "postgres",
        "user": "app",
        "address": "samenet",
        "method": "scram-sha-256",
    }
    inv = inventory(["node1"], ["node2"], groups_barman=True, postgresql_config_hba_extra=[line])
    result = run_checks(tmp_path, inv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Barman's checks" in result.stdout


@pytest.mark.parametrize(
    ("primaries", "standbys", "group_vars", "host_vars", "expected"),
    [
        ([], ["node2"], {}, None, "'postgresql_primary' must hold exactly one host; it holds 0"),
        (["node1", "node9"], ["node2"], {}, None, "it holds 2: node1, node9"),
        (
            ["node1"],
            ["node2"],
            {},
            {"node2": {"postgresql_slot_name": "Node-2"}},
            "postgresql_slot_name=Node-2",
        ),
        (["node1"], ["node2"], {"postgresql_version": 12}, None, "postgresql_version"),
        (
            ["node1"],
            ["node2"],
            {"postgresql_replication_password": ""},
            None,
            "postgresql_replication_password is empty",
        ),
        (
            ["node1"],
            ["node-2", "node_2"],
            {},
            None,
            "Two hosts would share a replication slot: node1, node_2, node_2",
        ),
        (["node1"], ["node2"], {"postgresql_port": 70000}, None, "postgresql_port=70000 is not a TCP port"),
        (
            ["node1"],
            ["node2"],
            {"postgresql_cluster": "../../../.."},
            None,
            "postgresql_cluster=../../../.. must be",
        ),
        (["node1"], ["node2"], {"postgresql_cluster": "my main"}, None, "postgresql_cluster=my main must be"),
        (
            ["node1"],
            ["node2"],
            {"postgresql_replication_user": "repl user"},
            None,
            "postgresql_replication_user=repl user is not a plain role name",
        ),
        (
            ["node1"],
            ["node2"],
            {"postgresql_replication_password": "unit-test-only\nsecond line"},
            None,
            "postgresql_replication_password: contains a line break",
        ),
        (
            ["node1"],
            ["node2"],
            {"postgresql_replication_password": "CHANGE_ME"},
            None,
            "postgresql_replication_password: still a placeholder (CHANGE_ME)",
        ),
        (
            ["node1"],
            ["node2"],
            {},
            {"node2": {"postgresql_host_address": "10.0.0.0/8"}},
            "postgresql_host_address=10.0.0.0/8 (host node2) must be",
        ),
        (
            ["node1"],
            ["node2"],
            {},
            {"node2": {"postgresql_host_address": "0.0.0.0"}},
            "postgresql_host_address=0.0.0.0 (host node2) must be",
        ),
        (
            ["node1"],
            ["node2"],
            {},
            {"node2": {"postgresql_host_address": "127.0.0.11"}},
            "Two hosts of the replication set have the same address",
        ),
        (
            ["node1"],
            ["node2"],
            {"groups_barman": True},
            {"node2": {"postgresql_slot_name": "barman"}},
            "Barman streams through the slot barman; a standby's slot has that name too (node2)",
        ),
        (
            ["node1"],
            ["node2"],
            {
                "postgresql_config_hba_extra": [
                    {
                        "type": "host",
                        "database": "all",
                        "user": "all",
                        "address": "10.0.0.0/24",
                        "method": "trust",
                    }
                ]
            },
            None,
            "is refused: use scram-sha-256",
        ),
        (
            ["node1"],
            ["node2"],
            {
                "postgresql_config_hba_extra": [
                    {
                        "type": "host",
                        "database": "all",
                        "user": "app",
                        "address": "0.0.0.0/0",
                        "method": "scram-sha-256",
                    }
                ]
            },
            None,
            "is refused: use scram-sha-256",
        ),
        (
            ["node1"],
            ["node2"],
            {"groups_barman": True, "barman_servers": [{"name": "pg", "host": "10.0.0.1", "port": "x"}]},
            None,
            "a port from 1 to 65535 (got 'x')",
        ),
        (
            ["node1"],
            ["node2"],
            {"groups_barman": True, "barman_servers": [{"name": "pg", "host": "10.0.0.1 sslmode=disable"}]},
            None,
            "a host name or address (got '10.0.0.1 sslmode=disable')",
        ),
        (
            ["node1"],
            ["node2"],
            {"groups_barman": True, "barman_backup_schedule": "daily\nExecStart=/bin/sh"},
            None,
            "barman_backup_schedule one systemd OnCalendar expression (one line)",
        ),
    ],
    ids=[
        "no-primary",
        "two-primaries",
        "bad-slot",
        "old-version",
        "no-password",
        "slot-clash",
        "port-range",
        "cluster-path",
        "cluster-space",
        "user-space",
        "password-newline",
        "password-placeholder",
        "address-network",
        "address-wildcard",
        "address-twice",
        "barman-slot",
        "hba-trust",
        "hba-everywhere",
        "barman-port",
        "barman-host",
        "barman-schedule",
    ],
)
def test_bad_input_is_refused_naming_the_variable(
    tmp_path, primaries, standbys, group_vars, host_vars, expected
):
    result = run_checks(tmp_path, inventory(primaries, standbys, **group_vars), host_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in " ".join(output.split()), output
    assert GOOD_PASSWORD not in output
