# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""barman receive-wal --reset after a proven timeline divergence (barman_wal_diagnosis), and the report of
the WAL range the reset leaves out of Barman's archive. stream is a barman_receive_wal.ReceiveWal."""

from __future__ import annotations

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import parse_slot_record
from ansible_collections.otus.pgrepl.plugins.module_utils.barman_wal_diagnosis import (
    describe,
    diagnose,
    listdir,
    unproven,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.wal_position import (
    WalError,
    gap_report,
    newest_wal,
    parse_lsn,
    resume_position,
    segment_of,
    wal_gap,
    wal_name,
)


def diagnose_and_reset(stream, server, problem):
    """Reset receive-wal when the diagnosis proves the divergence; fail with it otherwise.

    problem: why streaming does not work (None in check mode, where nothing was tried).
    """
    module = stream.module
    name = stream.p["server"]
    try:
        diag, inner = diagnose(stream, server)
    except WalError as exc:
        diag, inner = unproven(str(exc)), None
    stream.result["divergence"] = diag
    if not diag["proven"]:
        if module.check_mode:
            return
        stream.fail(
            f"{problem}. No receive-wal --reset: a timeline divergence is not proven: {describe(diag)}"
        )
    if module.check_mode:
        stream.stop()
        stream.would("receive-wal", "--reset", name)
        stream.start()
        report_gap(stream, server, diag, inner, after_reset=False)
        return
    stream.stop()
    # Recorded once, however often the slot is still in use.
    stream.record(stream.cli.argv("receive-wal", "--reset", name))
    rc, out, err = stream.retry("receive-wal", "--reset", name, record=False, busy="already in use")
    if rc != 0:
        stream.fail(
            f"barman could not reset receive-wal of '{name}' (rc={rc}): {(err or out).strip()} "
            f"(reset because {describe(diag)})"
        )
    stream.result["reset"] = True
    report_gap(stream, server, diag, inner, after_reset=True)
    problem = stream.start() or stream.wait_streaming()
    if problem:
        stream.fail(f"after receive-wal --reset: {problem}. {stream.result['gap_report']}")


def resume_point(server, inner, after_reset):
    """Where streaming resumes after the reset: (LSN, WAL file name).

    After a real reset: the newest file of the primary's timeline in streaming/ (the .partial Barman
    made). Otherwise what Barman's reset picks: the slot's restart_lsn, else the primary's position.
    """
    segment_size = inner["segment_size"]
    timeline = inner["primary"]["timeline"]
    if after_reset:
        names = listdir(server.get("streaming_wals_directory"))
        ours = [n for n in names if n[:8] == f"{timeline:08X}"]
        wal = newest_wal(ours, segment_size)
        if wal:
            return resume_position(wal), wal["name"] + (".partial" if wal["partial"] else "")
    slot = parse_slot_record(server.get("replication_slot"))
    if slot and slot.get("restart_lsn"):
        position = parse_lsn(slot["restart_lsn"])
    else:
        position = inner["primary"]["xlogpos"]
    segno = segment_of(position, segment_size)
    return segno * segment_size, wal_name(timeline, segno, segment_size) + ".partial"


def report_gap(stream, server, diag, inner, after_reset):
    resume_at, resumed_wal = resume_point(server, inner, after_reset)
    gap = None
    if inner["fork"] is not None:
        gap = wal_gap(
            inner["history"],
            inner["primary"]["timeline"],
            inner["fork"],
            resume_at,
            inner["segment_size"],
        )
    report = gap_report(stream.p["server"], gap, resumed_wal, diag["fork_lsn"], inner["barman_tli"])
    if stream.module.check_mode:
        report = "Check mode, nothing was reset. A reset would say: " + report
    stream.result.update(reset=True, wal_gap=gap, gap_report=report)
    stream.module.warn(report)
