"""file_info reads many paths in one call; file_differs tells a role which of them to write."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.filter.files import FilterModule
from ansible_collections.otus.pgrepl.plugins.modules import file_info

differs = FilterModule().filters()["file_differs"]
OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "conf.d"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    conf = tmp_path / "app.conf"
    conf.write_text("port = 5432\n")
    conf.chmod(0o640)
    link = tmp_path / "link.conf"
    link.symlink_to(conf)
    return {"folder": folder, "conf": conf, "link": link, "missing": tmp_path / "missing.conf"}


def read(run_module, paths, check_mode: bool = False) -> dict:
    result, failed = run_module(file_info.main, {"paths": [str(p) for p in paths]}, check_mode=check_mode)
    assert not failed, result
    assert result["changed"] is False
    return result


def test_reads_kind_mode_owner_and_checksum(run_module, tree) -> None:
    files = read(run_module, tree.values())["files"]
    conf = files[str(tree["conf"])]
    assert conf["exists"] and conf["isreg"] and not conf["islnk"]
    assert conf["mode"] == "0640" and conf["pw_name"] == OWNER and conf["gr_name"] == GROUP
    assert conf["checksum"] == hashlib.sha1(b"port = 5432\n").hexdigest()  # noqa: S324 - find/stat's checksum
    assert files[str(tree["folder"])]["isdir"] and "checksum" not in files[str(tree["folder"])]
    # A link is a link, not what it points to.
    assert files[str(tree["link"])]["islnk"] and not files[str(tree["link"])]["isreg"]
    assert files[str(tree["missing"])] == {"exists": False}


def test_reads_under_check_mode_too(run_module, tree) -> None:
    assert read(run_module, [tree["conf"]], check_mode=True)["files"][str(tree["conf"])]["exists"]


def test_returns_the_text_of_the_files_asked_for_only(run_module, tree) -> None:
    paths = [str(tree["conf"]), str(tree["folder"]), str(tree["link"]), str(tree["missing"])]
    result, failed = run_module(file_info.main, {"paths": paths, "read": paths})
    assert not failed, result
    files = result["files"]
    assert files[str(tree["conf"])]["content"] == "port = 5432\n"
    # Folders, links and missing paths have no text; paths not in read are not read.
    assert not any("content" in files[p] for p in paths[1:])
    assert "content" not in read(run_module, [tree["conf"]])["files"][str(tree["conf"])]


def test_read_refuses_a_large_file_and_a_path_not_listed(run_module, tree) -> None:
    big = tree["conf"].parent / "big.conf"
    big.write_bytes(b"x" * (file_info.READ_LIMIT + 1))
    result, failed = run_module(file_info.main, {"paths": [str(big)], "read": [str(big)]})
    assert failed and "at most" in result["msg"]
    result, failed = run_module(file_info.main, {"paths": [str(tree["conf"])], "read": [str(big)]})
    assert failed and "paths does not" in result["msg"] and str(big) in result["msg"]


def test_a_relative_path_is_refused(run_module) -> None:
    result, failed = run_module(file_info.main, {"paths": ["etc/app.conf"]})
    assert failed and "absolute" in result["msg"]


def test_nothing_to_do_only_when_everything_matches(run_module, tree) -> None:
    found = read(run_module, tree.values())
    conf, folder = str(tree["conf"]), str(tree["folder"])
    assert not differs(found, conf, "0640", OWNER, GROUP, content="port = 5432\n")
    assert not differs(found, folder, "0755", OWNER, GROUP, directory=True)
    # Each difference sends the item to the task.
    assert differs(found, conf, "0640", OWNER, GROUP, content="port = 5433\n")
    assert differs(found, conf, "0644", OWNER, GROUP, content="port = 5432\n")
    assert differs(found, conf, "0640", "someone-else", GROUP, content="port = 5432\n")
    assert differs(found, conf, "0640", OWNER, "other-group", content="port = 5432\n")
    assert differs(found, conf, "0640", OWNER, GROUP, content="port = 5432\n", directory=True)
    assert differs(found, folder, "0755", OWNER, GROUP, content="")
    assert differs(found, str(tree["link"]), "0777", OWNER, GROUP, content="port = 5432\n")
    assert differs(found, str(tree["missing"]), "0640", OWNER, GROUP, content="")
    # A path the read did not list is not known to match.
    assert differs(found, "/etc/not-read.conf", "0640", OWNER, GROUP, content="")


def test_a_controller_file_is_compared_by_its_bytes(run_module, tree, tmp_path: Path) -> None:
    found = read(run_module, [tree["conf"]])
    same, other = tmp_path / "same", tmp_path / "other"
    same.write_bytes(b"port = 5432\n")
    other.write_bytes(b"port = 5433\n")
    assert not differs(found, str(tree["conf"]), "0640", OWNER, GROUP, src=str(same))
    assert differs(found, str(tree["conf"]), "0640", OWNER, GROUP, src=str(other))
    with pytest.raises(AnsibleFilterError, match="cannot read"):
        differs(found, str(tree["conf"]), "0640", OWNER, GROUP, src=str(tmp_path / "gone"))


def test_a_file_needs_its_content_and_a_result_is_needed(run_module, tree) -> None:
    found = read(run_module, [tree["conf"]])
    with pytest.raises(AnsibleFilterError, match="content=, src= or contains="):
        differs(found, str(tree["conf"]), "0640", OWNER, GROUP)
    with pytest.raises(AnsibleFilterError, match="file_info"):
        differs([], str(tree["conf"]), "0640", OWNER, GROUP, content="")


def test_a_line_editing_task_is_done_when_its_lines_stand_whole(run_module, tmp_path: Path) -> None:
    keys = tmp_path / "authorized_keys"
    keys.write_text("# mine\nrestrict ssh-ed25519 AAA a@b\n# BEGIN x\nHost h\n# END x\n")
    keys.chmod(0o600)
    result, failed = run_module(file_info.main, {"paths": [str(keys)], "read": [str(keys)]})
    assert not failed, result
    path = str(keys)
    assert not differs(result, path, "0600", OWNER, GROUP, contains="restrict ssh-ed25519 AAA a@b")
    assert not differs(
        result, path, "0600", OWNER, GROUP, contains=["# BEGIN x\nHost h\n# END x", "# mine\n"]
    )
    # Part of a line is not the line: the task would rewrite it.
    assert differs(result, path, "0600", OWNER, GROUP, contains="ssh-ed25519 AAA a@b")
    assert differs(result, path, "0600", OWNER, GROUP, contains="restrict ssh-ed25519 AAA")
    assert differs(result, path, "0600", OWNER, GROUP, contains="# BEGIN x\nHost other\n# END x")
    assert differs(result, path, "0644", OWNER, GROUP, contains="# mine")
    # Without the text (the path was not in `read`) nothing is known to match.
    unread = read(run_module, [keys])
    assert differs(unread, path, "0600", OWNER, GROUP, contains="# mine")
