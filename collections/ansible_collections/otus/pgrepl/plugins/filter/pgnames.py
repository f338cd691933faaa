# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for PostgreSQL names and paths; each documented in its own .yml beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import (
    DATA_ROOT,
    barman_slots,
    debian_layout,
    is_valid_slot_name,
    port_of,
    slot_name_for,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import slot_names as _slot_names


def slot_name(host):
    try:
        return slot_name_for(host)
    except ValueError as exc:
        raise AnsibleFilterError(f"otus.pgrepl.slot_name: {exc}") from exc


def slot_names(hosts, hostvars):
    try:
        return _slot_names(hosts, hostvars)
    except ValueError as exc:
        raise AnsibleFilterError(f"otus.pgrepl.slot_names: {exc}") from exc


def valid_slot_name(name):
    return is_valid_slot_name(name)


def pg_layout(version, cluster="main", data_root=DATA_ROOT):
    return debian_layout(version, cluster, data_root)


class FilterModule:
    def filters(self):
        return {
            "slot_name": slot_name,
            "slot_names": slot_names,
            "barman_slots": barman_slots,
            "port": port_of,
            "valid_slot_name": valid_slot_name,
            "pg_layout": pg_layout,
        }
