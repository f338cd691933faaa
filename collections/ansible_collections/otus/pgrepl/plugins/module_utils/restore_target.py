# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Recovery targets and Barman backups: parse, compare, choose.

Pure functions, so unit tests need no Barman and the module stays thin.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.otus.pgrepl.plugins.module_utils.wal_position import (
    WalError,
    format_lsn,
    parse_wal_file,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.wal_position import (
    parse_lsn as parse_wal_lsn,
)

TARGET_KINDS = ("time", "lsn", "xid", "name", "immediate")
# Barman writes a restore point's name into the restored server's recovery
# settings as given: a quote or a line break there stops that server from
# starting. Names are held to a plain word, at most NAMEDATALEN - 1 bytes.
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,62}$")


class TargetError(ValueError):
    """The requested recovery target cannot be used; the message says what to fix."""


def parse_lsn(text):
    """'0/3000028' -> integer position in the WAL."""
    try:
        return parse_wal_lsn(text)
    except WalError:
        raise TargetError(
            f"target_lsn={text!r} is not an LSN: write it as PostgreSQL prints it, e.g. 0/3000028"
        ) from None


def parse_time(text):
    """An ISO timestamp with an explicit UTC offset -> aware datetime.

    A time without an offset would be read in the restored server's timezone
    setting: ambiguous, so refused.
    """
    raw = str(text).strip()
    normalised = re.sub(r"^(\d{4}-\d{2}-\d{2})T", r"\1 ", raw)
    # PostgreSQL prints offsets as +00 or +05:30; Python wants +HH:MM.
    normalised = re.sub(r"([+-]\d{2})$", r"\1:00", normalised)
    normalised = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", normalised)
    normalised = re.sub(r"\s*(UTC|Z)$", "+00:00", normalised)
    try:
        value = datetime.datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise TargetError(
            f"target_time={raw!r} is not a timestamp: use e.g. '2026-11-25 18:00:00+00' "
            "(ISO 8601 with a UTC offset)"
        ) from exc
    if value.tzinfo is None:
        raise TargetError(
            f"target_time={raw!r} has no UTC offset; PostgreSQL would read it in the restored server's "
            "timezone. Add one, e.g. '+00'."
        )
    return value


def target_of(params):
    """The one recovery target asked for -> (kind, value), or (None, None) for the end of the WAL."""
    chosen = []
    for kind in TARGET_KINDS:
        value = params.get(f"target_{kind}")
        if kind == "immediate":
            if value:
                chosen.append((kind, True))
        elif value not in (None, ""):
            chosen.append((kind, str(value)))
    if len(chosen) > 1:
        raise TargetError(
            "give at most one recovery target; got " + ", ".join(f"target_{kind}" for kind, dummy in chosen)
        )
    if not chosen:
        return None, None
    kind, value = chosen[0]
    if kind == "time":
        parse_time(value)
    elif kind == "lsn":
        parse_lsn(value)
    elif kind == "xid" and not re.match(r"^[0-9]+$", value):
        raise TargetError(f"target_xid={value!r} is not a transaction id (a whole number)")
    elif kind == "name" and not _TARGET_NAME.match(value):
        raise TargetError(
            f"target_name={value!r} is refused: a restore point name here is 1 to 63 letters, digits and "
            "'_', '.', ':', '+', '-', starting with a letter or digit (Barman writes it into the recovery "
            "settings as given). Make the restore point under such a name (pg_create_restore_point)."
        )
    return kind, value


def target_problem(params):
    """'' when the recovery target asked for is well formed, else what to fix (the module's own message)."""
    try:
        target_of(params)
    except TargetError as exc:
        return str(exc)
    return ""


def backup_end(backup):
    """show-backup JSON of one backup -> (end time, end LSN as int)."""
    info = backup.get("base_backup_information", backup)
    return parse_time(info["end_time"]), parse_lsn(info["end_lsn"])


def check_target_after(backup, kind, value):
    """Fail unless a time/LSN target lies at or after the end of the backup (recovery cannot stop earlier)."""
    end_time, end_lsn = backup_end(backup)
    backup_id = backup.get("backup_id", "?")
    if kind == "time" and parse_time(value) < end_time:
        raise TargetError(
            f"target_time {value} is before backup {backup_id} ended ({end_time.isoformat(sep=' ')}): "
            "a backup can only be rolled forward. Pick an earlier backup or a later target."
        )
    if kind == "lsn" and parse_lsn(value) < end_lsn:
        raise TargetError(
            f"target_lsn {value} is before backup {backup_id} ended (LSN {format_lsn(end_lsn)}): "
            "a backup can only be rolled forward. Pick an earlier backup or a later target."
        )


def choose_backup(server, done_ids, show, requested, target):
    """Pick the backup to restore.

    done_ids: ids of the server's DONE backups (list-backups), any order.
    show: backup id -> show-backup JSON of it; called only for the backups the
    choice needs (all of them only for 'auto' with a time or LSN target).
    requested: 'auto' (the newest that ends before a time/LSN target, else the
    newest), 'latest'/'last', 'oldest'/'first', or a backup id.
    target: (kind, value) as target_of returns it.
    """
    kind, value = target
    done = sorted(done_ids)
    if not done:
        raise TargetError(
            f"server {server} has no DONE backup to restore: take one first "
            f"(otus.pgrepl.backup, or barman backup --wait {server})"
        )
    if requested == "auto" and kind in ("time", "lsn"):
        details = [show(backup_id) for backup_id in done]
        fitting = [b for b in details if _ends_by(b, kind, value)]
        if not fitting:
            end_time, end_lsn = backup_end(details[0])
            raise TargetError(
                f"target_{kind} {value} is before the end of the oldest DONE backup of {server} "
                f"({done[0]}, ended {end_time.isoformat(sep=' ')} "
                f"at LSN {format_lsn(end_lsn)}): "
                "no backup can reach it."
            )
        chosen = fitting[-1]
    else:
        if requested in ("latest", "last", "auto"):
            backup_id = done[-1]
        elif requested in ("oldest", "first"):
            backup_id = done[0]
        elif requested in done:
            backup_id = requested
        else:
            raise TargetError(
                f"server {server} has no DONE backup {requested}; DONE backups: " + ", ".join(done)
            )
        chosen = show(backup_id)
    if kind in ("time", "lsn"):
        check_target_after(chosen, kind, value)
    return chosen


def _ends_by(backup, kind, value):
    end_time, end_lsn = backup_end(backup)
    if kind == "time":
        return end_time <= parse_time(value)
    return end_lsn <= parse_lsn(value)


def newest_archived(xlog_db_text):
    """Barman's WAL index -> (newest segment name, its archive time), or (None, None).

    The index has `name size time compression` per line; history and
    backup-label files in it are skipped. The newest segment is the highest
    name (timeline first, then position).
    """
    newest = (None, None)
    for line in xlog_db_text.splitlines():
        fields = line.split()
        wal = parse_wal_file(fields[0]) if len(fields) >= 3 else None
        if wal is None or wal["partial"] or wal["name"] != fields[0]:
            continue
        if newest[0] is None or fields[0] > newest[0]:
            newest = (fields[0], float(fields[2]))
    return newest


def check_not_future(value, now):
    """A time target still to come has no commit after it: refuse it. Returns the parsed time."""
    target = parse_time(value)
    if target.timestamp() > now:
        raise TargetError(
            f"target_time {value} is in the future: no commit after it exists yet, so recovery "
            "cannot stop there. Pick a time that has passed."
        )
    return target


def check_reachable(kind, value, newest_segment, newest_time, now):
    """Fail when Barman's archive proves a time/LSN target cannot be reached.

    Recovery to a time stops at the first commit after it: none can be in WAL
    archived before that time, and none exists yet for a time still to come.
    An LSN past the end of the newest archived segment is not in the archive.
    Only proven cases fail; what only recovery can tell is left to it.
    """
    if newest_segment:
        utc = datetime.timezone.utc  # noqa: UP017 -- managed hosts may run Python < 3.11
        when = datetime.datetime.fromtimestamp(newest_time, utc).isoformat(sep=" ", timespec="seconds")
        latest = f"the newest WAL Barman holds is {newest_segment}, archived at {when}"
    else:
        latest = "Barman holds no WAL of this server"
    if kind == "time":
        target = check_not_future(value, now)
        if newest_time is None or target.timestamp() >= newest_time:
            raise TargetError(
                f"target_time {value} is not reachable from Barman's archive: {latest}, and recovery "
                "stops only at a commit after the target. Archive the current WAL first "
                "(otus-barman-backup --archive-only on the Barman host) or pick an earlier time; "
                "the latest reachable target is the last commit before that archive time."
            )
    if kind == "lsn":
        end = parse_wal_file(newest_segment)["end"] if newest_segment else 0
        if parse_lsn(value) >= end:
            raise TargetError(
                f"target_lsn {value} is not in Barman's archive: {latest}, which ends at LSN "
                f"{format_lsn(end)}. A reachable LSN target lies before {format_lsn(end)}; archive "
                "the current WAL first or pick an earlier LSN."
            )
