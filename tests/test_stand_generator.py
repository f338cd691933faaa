"""The stand generator: a stand with two standbys passes inventory and syntax checks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tools import stand

ROOT = Path(__file__).resolve().parents[1]


def ansible(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    return stand.new_stand(
        "two-standbys",
        primary="pg1=10.20.0.11",
        standbys="pg2=10.20.0.12, pg-3=10.20.0.14",
        barman="bk=10.20.0.13",
        restore="sc=10.20.0.15",
        version=17,
        user="admin",
        output_dir=tmp_path,
    )


def test_generated_inventory_lists_every_group(generated: Path):
    result = ansible(["ansible-inventory", "--list"], generated)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert inventory["postgresql_primary"]["hosts"] == ["pg1"]
    assert sorted(inventory["postgresql_standby"]["hosts"]) == ["pg-3", "pg2"]
    assert inventory["barman"]["hosts"] == ["bk"]
    assert inventory["postgresql_restore"]["hosts"] == ["sc"]
    hostvars = inventory["_meta"]["hostvars"]
    assert hostvars["pg-3"]["postgresql_host_address"] == "10.20.0.14"
    assert hostvars["pg1"]["ansible_user"] == "admin"
    assert hostvars["pg1"]["postgresql_version"] == 17


def test_generated_playbook_passes_syntax_check(generated: Path):
    result = ansible(["ansible-playbook", "--syntax-check", "playbook.yml"], generated)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_passwords_are_vault_placeholders(generated: Path):
    vault = yaml.safe_load((generated / "group_vars" / "all" / "vault.yml").read_text())
    assert set(vault.values()) == {"CHANGE_ME"}
    main = (generated / "group_vars" / "all" / "main.yml").read_text()
    assert "{{ vault_postgresql_replication_password }}" in main
    readme = (generated / "README.md").read_text()
    assert "pg_3" in readme  # the slot name the standby pg-3 will get


def test_placeholders_stop_the_playbook(generated: Path):
    result = ansible(
        [
            "ansible-playbook",
            "playbook.yml",
            "-i",
            "inventory.yml",
            "--limit",
            "pg1",
            "-e",
            "ansible_connection=local",
        ],
        generated,
    )
    assert result.returncode != 0
    assert "Replace the CHANGE_ME placeholders" in result.stdout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"standbys": "node2"}, "is not NAME=ADDRESS"),
        ({"primary": "pg1=10.0.0.1", "standbys": "pg1=10.0.0.2"}, "host names must differ"),
        ({"version": 11}, "not a supported PostgreSQL major version"),
        ({"primary": "", "barman": " "}, "give every host as NAME=ADDRESS: --primary, --barman missing"),
        ({"restore": "sc=10.0.0.3"}, "each host needs an address of its own"),
        ({"restore": "pg2=10.0.0.9"}, "host names must differ"),
    ],
)
def test_bad_input_is_refused(tmp_path: Path, kwargs: dict, message: str):
    args = {
        "name": "bad",
        "primary": "pg1=10.0.0.1",
        "standbys": "pg2=10.0.0.2",
        "barman": "bk=10.0.0.3",
        "restore": "sc=10.0.0.4",
        "version": 17,
        "user": "admin",
        "output_dir": tmp_path,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        stand.new_stand(**args)
    assert not (tmp_path / "bad").exists()


def test_generated_requirements_install_the_built_tarball(generated: Path):
    wanted = yaml.safe_load((generated / "requirements.yml").read_text())
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert wanted["collections"] == [{"name": f"./otus-pgrepl-{version}.tar.gz", "type": "file"}]
    readme = (generated / "README.md").read_text()
    assert "ansible-galaxy collection install -r requirements.yml" in readme
    assert "| sc | restore host" in readme


def test_without_a_restore_host_restores_go_to_the_barman_host(tmp_path: Path):
    made = stand.new_stand(
        "three", primary="pg1=10.0.0.1", standbys="pg2=10.0.0.2", barman="bk=10.0.0.3", version=17, user="u",
        output_dir=tmp_path,
    )  # fmt: skip
    inventory = json.loads(ansible(["ansible-inventory", "--list"], made).stdout)
    assert "postgresql_restore" not in inventory
    assert "restore_hosts=bk" in (made / "README.md").read_text()
    # A group-wide become would reach the controller's own tasks (the CA) through the implicit localhost.
    assert "ansible_become" not in yaml.safe_load((made / "inventory.yml").read_text())["all"]["vars"]
