# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for pg_hba.conf lines; documented in hba_too_wide.yml."""

from __future__ import annotations

from ansible_collections.otus.pgrepl.plugins.module_utils.hba import too_wide


def hba_too_wide(address):
    return too_wide(address)


class FilterModule:
    def filters(self):
        return {"hba_too_wide": hba_too_wide}
