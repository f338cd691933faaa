"""Slot-name rules shared by the modules and the filters."""

from __future__ import annotations

import pytest
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
    with pytest.raises(AnsibleFilterError, match="non-empty host name"):
        filters["slot_name"]("  ")
