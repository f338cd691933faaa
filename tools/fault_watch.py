"""What the fault drill measures: a write loop that records every acknowledged commit, and a watcher
that asks every database host twice a second whether it runs as a primary.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from tools import stand as st
from tools.fault_stand import DrillError, Stand, wait_for

WRITER = Path(__file__).with_name("drill_writer.py")
DRILL_USER = "otus_drill"


class Watch:
    """Sweeps the database hosts every half second; remembers the most primaries seen at once."""

    def __init__(self, stand: Stand) -> None:
        self.stand = stand
        self.max_primaries = 0
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            primaries = [h for h, s in self.stand.states().items() if s == "primary"]
            if len(primaries) > 1 and not self.seen:
                self.seen = primaries
            self.max_primaries = max(self.max_primaries, len(primaries))
            self._stop.wait(0.5)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Writer:
    """The write loop on the Barman host; `acks` holds (controller clock, id, server address)."""

    def __init__(self, stand: Stand, table: str) -> None:
        self.stand = stand
        self.table = table
        self.acks: list[tuple[float, int, str]] = []
        self.errors: list[tuple[float, str]] = []
        env = dict(os.environ)
        env.update(
            PGHOST=",".join(stand.address(h) for h in stand.db_hosts),
            PGPORT="5432",
            PGUSER=DRILL_USER,
            PGDATABASE="postgres",
            PGPASSWORD=stand.drill_password,
            PGTARGETSESSIONATTRS="read-write",
            PGAPPNAME="otus_drill",
            # Like every connection between the stand's hosts: TLS, the server's name checked.
            PGSSLMODE="verify-full",
            PGSSLROOTCERT=st.TLS_CA_FILE,
        )
        names = (
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGTARGETSESSIONATTRS",
            "PGAPPNAME",
            "PGSSLMODE",
            "PGSSLROOTCERT",
        )
        # `-e NAME` without a value: podman takes it from this process, so the password is not in argv.
        env_args = [a for n in names for a in ("-e", n)]
        self.proc = subprocess.Popen(
            ["podman", "exec", "-i", *env_args, stand.container(stand.barman),
             "python3", "-c", WRITER.read_text(), table],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            kind, _, rest = line.strip().partition(" ")
            if kind == "ack":
                ident, _, address = rest.partition(" ")
                self.acks.append((now, int(ident), address))
            else:
                self.errors.append((now, line.strip()))

    def count(self) -> int:
        return len(self.acks)

    def wait_acks(self, more: int, timeout: float = 60) -> None:
        target = self.count() + more
        wait_for(f"{more} more acknowledged commits", lambda: self.count() >= target or self._dead(), timeout)
        if self._dead():
            raise DrillError(f"the write loop ended: {self.errors[-3:]}")

    def _dead(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._thread.join(timeout=10)

    def first_ack_after(self, moment: float) -> float | None:
        later = [t for t, _, _ in self.acks if t > moment]
        return later[0] - moment if later else None

    def longest_gap(self, start: float, end: float) -> float:
        times = [start] + [t for t, _, _ in self.acks if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def create_table(stand: Stand, primary: str, table: str) -> None:
    password = stand.drill_password.replace("'", "''")
    sql = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DRILL_USER}') THEN
    CREATE ROLE {DRILL_USER} LOGIN;
  END IF;
END $$;
ALTER ROLE {DRILL_USER} PASSWORD '{password}';
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (id int PRIMARY KEY);
GRANT INSERT ON {table} TO {DRILL_USER};
"""
    if stand.psql(primary, sql) is None:
        raise DrillError(f"could not create {table} on {primary}")


def count_lost(stand: Stand, primary: str, table: str, acked: list[int]) -> int:
    ids = ",".join(str(i) for i in acked) or "0"
    sql = (
        f"SELECT count(*) FROM unnest('{{{ids}}}'::int[]) AS a(id) "
        f"WHERE {bool(acked)} AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.id)"
    )
    answer = stand.psql(primary, sql, timeout=60)
    if answer is None:
        raise DrillError(f"could not count the rows of {table} on {primary}")
    return int(answer)
