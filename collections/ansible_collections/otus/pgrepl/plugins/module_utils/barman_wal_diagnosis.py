# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Why Barman's receive-wal does not stream, read-only: an invalidated (lost) slot, or Barman's WAL on a
timeline the primary's history left (Barman's newest WAL against the primary's IDENTIFY_SYSTEM and
TIMELINE_HISTORY). barman_wal_reset acts on the diagnosis; stream is a barman_receive_wal.ReceiveWal."""

from __future__ import annotations

import os
import re

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import replication_conninfo
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import is_valid_slot_name
from ansible_collections.otus.pgrepl.plugins.module_utils.wal_position import (
    DEFAULT_SEGMENT_SIZE,
    WalError,
    diagnose_divergence,
    format_lsn,
    newest_wal,
    parse_identify_system,
    parse_lsn,
    parse_timeline_history,
    parse_timeline_history_output,
    resume_position,
)


def lost_slot(stream, server, slot_name):
    """Why the slot is of no use again when PostgreSQL invalidated it, else None.

    wal_status 'lost', or an invalidation_reason (PostgreSQL 17 lets a client attach to an invalidated
    physical slot again, which then shows 'unreserved' but holds no WAL for it). Read through Barman's
    conninfo (its user holds pg_monitor); no answer is not a verdict: None.
    """
    conninfo = server.get("conninfo")
    if not conninfo or not is_valid_slot_name(slot_name):
        return None
    # to_jsonb: invalidation_reason exists from PostgreSQL 17 on. The name is checked above: quoting is safe.
    query = (
        "SELECT s.wal_status, to_jsonb(s) ->> 'invalidation_reason' FROM pg_replication_slots s "
        f"WHERE s.slot_name = '{slot_name}'"
    )
    # A primary that accepts the connection and then stalls must not hang the run.
    argv = ["timeout", "30", *stream.cli.as_user(["psql", "-XAtw", "-d", conninfo, "-c", query])]
    rc, out, dummy = stream.module.run_command(argv, environ_update={"PGCONNECT_TIMEOUT": "10"})
    status, sep, reason = out.strip().partition("|")
    if rc != 0 or not (status == "lost" or reason):
        return None
    p = stream.p
    name = p["server"]
    stop = " ".join(p["stop_command"]) or f"barman receive-wal --stop {name}"
    return (
        f"Barman's slot {slot_name!r} on the primary of '{name}' is lost ({reason or 'invalidated'}): "
        "PostgreSQL removed WAL the slot held (max_slot_wal_keep_size), so the slot keeps nothing for "
        "Barman and Barman's archive has a gap. This task changed nothing. To stream again: stop barman "
        f"cron's schedule and receive-wal ({stop}), then as {p['barman_user']}: "
        f"barman receive-wal --drop-slot {name}; "
        f"barman receive-wal --create-slot {name}; barman receive-wal --reset {name}; run the site playbook "
        "again and take a new full backup (docs/troubleshooting.md)."
    )


def listdir(path):
    try:
        return sorted(os.listdir(path)) if path else []
    except OSError:
        return []


def barman_wal(server, segment_size):
    """The newest WAL file Barman holds for the server: (parsed file, 'streaming'|'archive') or (None, None).

    streaming/ is what pg_receivewal continues from; with nothing there, the newest archived segment.
    """
    wal = newest_wal(listdir(server.get("streaming_wals_directory")), segment_size)
    if wal:
        return wal, "streaming"
    wals = server.get("wals_directory")
    names = []
    for sub in listdir(wals):
        if re.fullmatch(r"[0-9A-F]{16}", sub):
            names += listdir(os.path.join(wals, sub))
    wal = newest_wal(names, segment_size)
    if wal:
        # Archived segments are complete (Barman archives no .partial file).
        return dict(wal, partial=False), "archive"
    return None, None


def replication_query(stream, server, command):
    """Run a replication command on the primary through Barman's streaming conninfo, as the barman user."""
    conninfo = server.get("wal_streaming_conninfo") or server.get("streaming_conninfo")
    if not conninfo:
        raise WalError("Barman's configuration of the server has no streaming_conninfo")
    argv = stream.cli.as_user(["psql", "-XAtw", "-d", replication_conninfo(conninfo), "-c", command])
    rc, out, err = stream.module.run_command(argv)
    if rc != 0:
        raise WalError(f"{command} on the primary failed (rc={rc}): {(err or out).strip()}")
    return out


def unproven(reason=None):
    """A diagnosis that proves nothing (yet)."""
    return {
        "proven": False,
        "reason": reason,
        "barman": None,
        "primary": None,
        "fork_lsn": None,
        "fork_timeline": None,
    }


def diagnose(stream, server):
    """Where Barman's stream continues, where the primary is and where its history forked.

    Returns the public diagnosis and the numbers the reset needs.
    """
    segment_size = int(server.get("xlog_segment_size") or DEFAULT_SEGMENT_SIZE)
    diag = unproven()
    inner = {
        "segment_size": segment_size,
        "history": None,
        "fork": None,
        "primary": None,
        "barman_tli": None,
    }
    wal, source = barman_wal(server, segment_size)
    if wal is not None:
        position = resume_position(wal)
        diag["barman"] = {
            "timeline": wal["timeline"],
            "lsn": format_lsn(position),
            "wal": wal["name"] + (".partial" if wal["partial"] else ""),
            "source": source,
        }
        inner["barman_tli"] = wal["timeline"]
    try:
        primary = parse_identify_system(replication_query(stream, server, "IDENTIFY_SYSTEM"))
    except WalError as exc:
        diag["reason"] = f"could not read the primary's position: {exc}"
        return diag, inner
    inner["primary"] = primary
    diag["primary"] = {
        "systemid": primary["systemid"],
        "timeline": primary["timeline"],
        "lsn": format_lsn(primary["xlogpos"]),
    }
    if wal is None:
        diag["reason"] = (
            "Barman holds no WAL of the server (neither in streaming/ nor in its archive): "
            "there is no stream to diverge"
        )
        return diag, inner
    coherence = stream.checks.get("systemid_coherence", {})
    if coherence.get("status") == "FAILED":
        diag["reason"] = (
            "barman check says the primary's system identifier is not the one Barman's archive belongs to "
            f"(systemid_coherence: FAILED{', ' + coherence['hint'] if coherence.get('hint') else ''}): "
            "its timelines say nothing about Barman's"
        )
        return diag, inner
    history = None
    history_problem = None
    if wal["timeline"] < primary["timeline"]:
        try:
            out = replication_query(stream, server, f"TIMELINE_HISTORY {primary['timeline']}")
            history = parse_timeline_history(parse_timeline_history_output(out)[1])
        except WalError as exc:
            history_problem = str(exc)
    inner["history"] = history
    verdict = diagnose_divergence(wal["timeline"], position, primary["timeline"], history)
    diag.update(
        proven=verdict["proven"],
        reason=verdict["reason"] + (f" ({history_problem})" if history_problem else ""),
        fork_lsn=verdict["fork_lsn"],
        fork_timeline=verdict["fork_timeline"],
    )
    if verdict["fork_lsn"]:
        inner["fork"] = parse_lsn(verdict["fork_lsn"])
    return diag, inner


def describe(diag):
    barman, primary = diag["barman"], diag["primary"]
    parts = [
        "Barman at "
        + (
            f"timeline {barman['timeline']} LSN {barman['lsn']} ({barman['wal']} in {barman['source']})"
            if barman
            else "no WAL"
        ),
        "primary at "
        + (f"timeline {primary['timeline']} LSN {primary['lsn']}" if primary else "an unknown position"),
        "fork at " + (diag["fork_lsn"] or "none known"),
    ]
    return f"{diag['reason']} [{'; '.join(parts)}]"
