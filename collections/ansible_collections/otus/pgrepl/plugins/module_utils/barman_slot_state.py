# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""barman_slot's two states: present (the slot created once, receive-wal started and waited for, a lost
slot refused, a proven timeline divergence reset) and absent (receive-wal stopped, the slot dropped).
stream is a barman_receive_wal.ReceiveWal."""

from __future__ import annotations

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_wal_diagnosis import lost_slot
from ansible_collections.otus.pgrepl.plugins.module_utils.barman_wal_reset import diagnose_and_reset


def configured_state(stream):
    """(server settings, slot, receive-wal running), once Barman's configuration names the slot we manage."""
    p = stream.p
    server, slot, running, dummy = stream.read()
    configured = server.get("slot_name")
    if p["slot_name"] and configured != p["slot_name"]:
        stream.fail(
            f"Barman's configuration of '{p['server']}' names slot_name={configured!r}, "
            f"not {p['slot_name']!r}: fix the server's file in Barman's configuration directory"
        )
    if not configured:
        stream.fail(f"server '{p['server']}' has no slot_name in Barman's configuration")
    if slot is not None and slot["name"] != configured:
        stream.fail(f"barman reports slot {slot['name']!r} for '{p['server']}', expected {configured!r}")
    return server, slot, running


def present(stream, server, slot, running):
    module, p = stream.module, stream.p
    name = p["server"]
    if server.get("connection_error"):
        stream.fail(
            f"Barman cannot reach the PostgreSQL server of '{name}': {server['connection_error']}. "
            "Check the host and port in its conninfo, pg_hba on the server, and the barman passfile."
        )
    if not server.get("streaming_archiver"):
        stream.fail(
            f"server '{name}' has streaming_archiver off in Barman's configuration: turn it on to stream WAL"
        )
    if slot is None:
        if module.check_mode:
            stream.would("receive-wal", "--create-slot", name)
        else:
            rc, out, err = stream.cli.run("receive-wal", "--create-slot", name)
            text = (out + err).strip()
            if rc != 0 and "already exists" not in text:
                stream.fail(f"barman could not create the slot of '{name}' (rc={rc}): {text}")
            stream.result["changed"] = True
        stream.result["created"] = True
    if slot is not None and not (slot["active"] and running):
        lost = lost_slot(stream, server, slot["name"])
        if lost:
            stream.fail(lost)
    problem = None
    if not running:
        problem = stream.start()
        if problem and not p["reset_on_divergence"]:
            stream.fail(problem)
    if module.check_mode or not p["wait"]:
        stream.result["slot"] = slot
        stream.result["receive_wal_running"] = running
        if module.check_mode and p["reset_on_divergence"] and not (slot and slot["active"] and running):
            diagnose_and_reset(stream, server, None)
        return
    if problem is None:
        problem = stream.wait_streaming()
    if problem is None:
        return
    if not p["reset_on_divergence"]:
        stream.fail(problem)
    diagnose_and_reset(stream, stream.cli.server(name), problem)


def absent(stream, server, slot, running):
    module = stream.module
    name = stream.p["server"]
    if server.get("streaming_archiver"):
        module.warn(
            f"server '{name}' still has streaming_archiver on: "
            "barman cron will try to start receive-wal again"
        )
    if running:
        stream.stop()
    if slot is not None:
        if module.check_mode:
            stream.would("receive-wal", "--drop-slot", name)
        else:
            rc, out, err = stream.retry("receive-wal", "--drop-slot", name)
            if rc != 0:
                stream.fail(f"barman could not drop the slot of '{name}' (rc={rc}): {(err or out).strip()}")
            stream.result["changed"] = True
        stream.result["dropped"] = True
    if not module.check_mode:
        dummy, slot, running, dummy2 = stream.read()
    else:
        slot, running = None, False
    stream.result.update(slot=slot, receive_wal_running=running)
