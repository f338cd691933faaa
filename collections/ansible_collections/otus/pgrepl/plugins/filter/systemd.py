# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for systemd units; documented in unit_states.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def unit_states(output):
    """`systemctl show --property=Id,ActiveState,UnitFileState -- UNIT...` -> {unit: {active, enabled}}.

    systemctl prints a block per unit, blocks apart by an empty line; a unit it
    does not know is there too, inactive and with no unit file state.
    """
    if not isinstance(output, str):
        raise AnsibleFilterError("otus.pgrepl.unit_states: give it the stdout of systemctl show")
    states = {}
    for block in output.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" not in props:
            continue
        states[props["Id"]] = {
            "active": props.get("ActiveState", ""),
            "enabled": props.get("UnitFileState", ""),
        }
    return states


class FilterModule:
    def filters(self):
        return {"unit_states": unit_states}
