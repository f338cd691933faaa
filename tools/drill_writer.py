#!/usr/bin/python3
"""TEST-ONLY write loop for fault drills: one INSERT per transaction, each acknowledged id printed.

usage: drill_writer.py TABLE            (libpq's PG* variables say where and as whom)

Prints `ack ID ADDRESS` after a COMMIT returned and `err TEXT` when a statement or a
connection failed; it then connects again (the PGHOST list with
PGTARGETSESSIONATTRS=read-write finds whichever host is the primary now).
Stops when its standard input closes. Runs on a stand host (python3-psycopg2 comes with Barman).
"""

import sys
import threading
import time

import psycopg2

table = sys.argv[1]
stop = threading.Event()


def _watch_stdin() -> None:
    sys.stdin.read()
    stop.set()


threading.Thread(target=_watch_stdin, daemon=True).start()
conn = None
next_id = 1
while not stop.is_set():
    try:
        if conn is None:
            # tcp_user_timeout: a host that vanished answers nothing; do not wait for TCP's retries.
            conn = psycopg2.connect("", connect_timeout=2, tcp_user_timeout=3000)
            cur = conn.cursor()
            cur.execute("SELECT host(inet_server_addr())")
            address = cur.fetchone()[0]
        cur.execute(f"INSERT INTO {table} (id) VALUES (%s)", (next_id,))  # noqa: S608 -- TEST-ONLY table name
        conn.commit()
    except psycopg2.Error as exc:
        print(f"err {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
        if conn is not None:
            conn.close()
        conn = None
        # The id's commit may or may not have happened: never reuse it.
        next_id += 1
        time.sleep(0.1)
        continue
    print(f"ack {next_id} {address}", flush=True)
    next_id += 1
    time.sleep(0.02)
