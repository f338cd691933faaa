# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for restores; documented in restore_target_problem.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.module_utils.restore_target import target_problem


def restore_target_problem(params):
    if not isinstance(params, dict):
        raise AnsibleFilterError("otus.pgrepl.restore_target_problem: give it a mapping of target_* settings")
    return target_problem(params)


class FilterModule:
    def filters(self):
        return {"restore_target_problem": restore_target_problem}
