#!/usr/bin/python3
"""TEST-ONLY write loop: one INSERT per transaction; an id is recorded only after COMMIT returned.

usage: writer.py DSN TABLE ACKED_FILE LIMIT
Stops at the first error (the primary went away) and prints how far it got.
"""

import sys

import psycopg2

dsn, table, acked_file, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# tcp_user_timeout: a killed host answers nothing; do not wait for TCP's own retries.
conn = psycopg2.connect(dsn, connect_timeout=5, tcp_user_timeout=5000)
cur = conn.cursor()
done = 0
with open(acked_file, "w") as out:
    for i in range(1, limit + 1):
        try:
            cur.execute(f"INSERT INTO {table} (id) VALUES (%s)", (i,))
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - any error ends the loop; it is reported
            print(f"stopped before id {i}: {type(exc).__name__}: {str(exc).strip()}")
            break
        out.write(f"{i}\n")
        out.flush()
        done = i
print(f"acknowledged {done}")
