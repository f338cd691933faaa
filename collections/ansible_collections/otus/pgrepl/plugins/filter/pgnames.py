# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for PostgreSQL names; documented in slot_name.yml, valid_slot_name.yml and pg_layout.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import (
    DATA_ROOT,
    debian_layout,
    is_valid_slot_name,
    slot_name_for,
)


def slot_name(host):
    try:
        return slot_name_for(host)
    except ValueError as exc:
        raise AnsibleFilterError(f"otus.pgrepl.slot_name: {exc}") from exc


def valid_slot_name(name):
    return is_valid_slot_name(name)


def pg_layout(version, cluster="main", data_root=DATA_ROOT):
    return debian_layout(version, cluster, data_root)


class FilterModule:
    def filters(self):
        return {"slot_name": slot_name, "valid_slot_name": valid_slot_name, "pg_layout": pg_layout}
