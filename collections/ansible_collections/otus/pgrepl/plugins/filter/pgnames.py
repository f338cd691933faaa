# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for PostgreSQL names; documented in slot_name.yml and valid_slot_name.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import (
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


class FilterModule:
    def filters(self):
        return {"slot_name": slot_name, "valid_slot_name": valid_slot_name}
