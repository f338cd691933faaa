"""The forced command of the database hosts' keys on the Barman host: what it lets through."""

from __future__ import annotations

import pytest
from conftest import load_role_file

gw = load_role_file("barman", "otus_barman_get_wal")

SERVERS = ["node1"]
WAL = "000000010000000000000012"


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        # What barman-wal-restore 3.13 sends (ssh joins its words with spaces).
        (f"barman get-wal 'node1' '{WAL}'", ["get-wal", "node1", WAL]),
        ("barman get-wal --test 'node1' 'dummy_wal_name'", ["get-wal", "--test", "node1", "dummy_wal_name"]),
        (
            f"barman --config /etc/barman.conf get-wal --peek '8' --partial 'node1' '{WAL}'",
            ["--config", "/etc/barman.conf", "get-wal", "--peek", "8", "--partial", "node1", WAL],
        ),
        (f"barman get-wal --gzip --keep-compression node1 {WAL}.partial", None),
        ("barman get-wal 'node1' '00000002.history'", ["get-wal", "node1", "00000002.history"]),
        (f"barman get-wal --test node1 {WAL}", ["get-wal", "--test", "node1", WAL]),
    ],
)
def test_get_wal_requests_go_through_as_an_argv(command, argv):
    got = gw.parse(command, SERVERS)
    assert got[0] == "/usr/bin/barman"
    if argv is not None:
        assert got[1:] == argv
    assert got[-2] == "node1"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("", "no command"),
        ("   ", "no command"),
        ("id", "not 'id'"),
        ("/bin/sh -c id", "not '/bin/sh'"),
        ("barman list-backups all", "not 'barman list-backups'"),
        ("barman --config /etc/barman.conf list-backups all", "not 'barman list-backups'"),
        ("barman --config /tmp/evil.conf get-wal node1 " + WAL, "only --config /etc/barman.conf"),
        ("barman get-wal node2 " + WAL, "server 'node2'"),
        ("barman get-wal all " + WAL, "server 'all'"),
        ("barman get-wal node1 ../../etc/passwd", "not a WAL segment"),
        ("barman get-wal node1 dummy_wal_name", "not a WAL segment"),
        ("barman get-wal node1 00000001000000000000001a", "not a WAL segment"),
        ("barman get-wal node1 " + WAL + "; id", "server and a WAL name"),
        (f"barman get-wal node1 '{WAL}' extra", "got 3 names"),
        (f"barman get-wal node1 {WAL} --test", "after the server"),
        (f"barman get-wal --output-directory /tmp node1 {WAL}", "'--output-directory' is not allowed"),
        (f"barman get-wal --peek 0 node1 {WAL}", "--peek takes"),
        (f"barman get-wal --peek node1 {WAL}", "--peek takes"),
        (f"barman get-wal --test --test node1 {WAL}", "given twice"),
        (f"barman get-wal --gzip --bzip2 node1 {WAL}", "exclude each other"),
        (f"barman get-wal node1 '{WAL}", "cannot parse"),
        (f"barman get-wal node1 '{WAL}\n'", "not a WAL segment"),
        (f"barman get-wal $(id) {WAL}", "server '$(id)'"),
    ],
)
def test_anything_else_is_refused(command, why):
    with pytest.raises(gw.Refused) as err:
        gw.parse(command, SERVERS)
    assert why in str(err.value)


def test_forced_command_must_name_its_servers():
    with pytest.raises(gw.Refused, match="names no server"):
        gw.allowed_servers([])
    with pytest.raises(gw.Refused, match="usage"):
        gw.allowed_servers(["node1"])
    with pytest.raises(gw.Refused, match="invalid server name"):
        gw.allowed_servers(["--server", "node1;id"])
    assert gw.allowed_servers(["--server", "node1", "--server", "node3"]) == ["node1", "node3"]


def test_main_refuses_on_stderr_and_never_execs(monkeypatch, capsys):
    execs = []
    monkeypatch.setattr(gw.os, "execv", lambda *a: execs.append(a))
    rc = gw.main(["--server", "node1"], {"SSH_ORIGINAL_COMMAND": "barman list-backups all"})
    assert rc == 1 and not execs
    assert "refused" in capsys.readouterr().err
    assert gw.main(["--server", "node1"], {}) == 1 and not execs


def test_main_execs_barman_without_a_shell(monkeypatch):
    execs = []
    monkeypatch.setattr(gw.os, "execv", lambda path, argv: execs.append((path, argv)))
    gw.main(["--server", "node1"], {"SSH_ORIGINAL_COMMAND": f"barman get-wal 'node1' '{WAL}'"})
    assert execs == [("/usr/bin/barman", ["/usr/bin/barman", "get-wal", "node1", WAL])]
