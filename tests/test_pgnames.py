"""Slot-name rules and the cluster layout, shared by the modules, the filters and the tools."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.filter.pgnames import FilterModule
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import (
    is_valid_slot_name,
    slot_name_for,
)


@pytest.mark.parametrize("name", ["node2", "barman", "a", "node_2", "x" * 63])
def test_valid_slot_names(name):
    assert is_valid_slot_name(name)


@pytest.mark.parametrize("name", ["", "Node2", "node-2", "node.2", "x" * 64, "slot name", None, 12])
def test_invalid_slot_names(name):
    assert not is_valid_slot_name(name)


@pytest.mark.parametrize(
    ("host", "slot"),
    [("node2", "node2"), ("Node-2.Example", "node_2_example"), ("db" * 40, ("db" * 40)[:63])],
)
def test_slot_name_for_host(host, slot):
    assert slot_name_for(host) == slot
    assert is_valid_slot_name(slot_name_for(host))


def test_filters_are_exported_and_reject_empty_hosts():
    filters = FilterModule().filters()
    assert filters["slot_name"]("node-3") == "node_3"
    assert filters["valid_slot_name"]("node_3") is True
    hostvars = {"node1": {}, "node-2": {"postgresql_slot_name": ""}, "n3": {"postgresql_slot_name": "s3"}}
    slots = filters["slot_names"](["node1", "node-2", "n3"], hostvars)
    assert slots == {"node1": "node1", "node-2": "node_2", "n3": "s3"}
    with pytest.raises(AnsibleFilterError, match="non-empty host name"):
        filters["slot_name"]("  ")


def test_debian_layout_of_a_cluster():
    layout = FilterModule().filters()["pg_layout"](16, "reports", "/srv/pg")
    assert layout == {
        "conf_dir": "/etc/postgresql/16/reports",
        "config_file": "/etc/postgresql/16/reports/postgresql.conf",
        "data_dir": "/srv/pg/16/reports",
        "bin_dir": "/usr/lib/postgresql/16/bin",
        "service": "postgresql@16-reports",
        "log_file": "/var/log/postgresql/postgresql-16-reports.log",
        "fence_file": "/var/lib/otus-pgrepl/fenced-16-reports",
    }
    assert FilterModule().filters()["pg_layout"]("17")["data_dir"] == "/var/lib/postgresql/17/main"


def test_the_tools_read_the_layout_and_slots_from_the_inventory():
    from tools import stand  # noqa: PLC0415 - only this test needs the repository's tools

    assert stand.cluster_layout({})["service"] == "postgresql@17-main"
    assert stand.cluster_layout({"postgresql_version": 16, "postgresql_cluster": "b"})["bin_dir"] == (
        "/usr/lib/postgresql/16/bin"
    )
    hostvars = {"Node-2": {}, "node2": {"postgresql_slot_name": "standby_a"}}
    slots = stand.slot_names(["Node-2", "node2"], hostvars)
    assert slots == {"Node-2": "node_2", "node2": "standby_a"}
    # Barman's server: the inventory's first primary, as the postgresql role names it.
    assert stand.barman_server(["node3", "node1"]) == "node3"
    role_vars = yaml.safe_load((stand.COLLECTION / "roles" / "postgresql" / "vars" / "main.yml").read_text())
    assert role_vars["postgresql__barman_server"].replace(" ", "") == (
        "{{groups.get(postgresql__primary_group,[])|first|default('')}}"
    )


def test_barman_slot_default_is_the_barman_roles():
    from ansible_collections.otus.pgrepl.plugins.module_utils import pgnames  # noqa: PLC0415
    from tools import stand  # noqa: PLC0415 - only these tests need the repository's tools

    defaults = yaml.safe_load((stand.COLLECTION / "roles" / "barman" / "defaults" / "main.yml").read_text())
    assert pgnames.BARMAN_SLOT == defaults["barman_slot_name"]
    hostvars = {"barman": {}, "b2": {"barman_slot_name": "b2_slot"}}
    assert pgnames.barman_slots(["barman", "b2"], hostvars) == ["barman", "b2_slot"]


def test_a_peers_port_is_its_own_or_the_postgresql_roles_default():
    from ansible_collections.otus.pgrepl.plugins.module_utils import pgnames  # noqa: PLC0415
    from tools import stand  # noqa: PLC0415 - only these tests need the repository's tools

    role = stand.COLLECTION / "roles" / "postgresql"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    assert pgnames.DEFAULT_PORT == defaults["postgresql_port"]
    hostvars = {"node1": {}, "node2": {"postgresql_port": "5433"}}
    # Not the asking host's own port: node2 asking for node1 gets 5432.
    assert [pgnames.port_of(h, hostvars) for h in ("node1", "node2")] == [5432, 5433]
