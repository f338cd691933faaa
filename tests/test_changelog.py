"""The changelog is kept in antsibull-changelog's format: changelogs/changelog.yaml and fragments.

CHANGELOG.md is generated from them (`antsibull-changelog generate`); a change adds a fragment
to changelogs/fragments/, and `antsibull-changelog release --version X` moves the fragments into
changelog.yaml when galaxy.yml's version moves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOL = str(Path(sys.executable).parent / "antsibull-changelog")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([TOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_changelog_yaml_and_fragments_lint():
    linted = run("lint-changelog-yaml", "changelogs/changelog.yaml")
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr
    fragments = run("lint")
    assert fragments.returncode == 0 and not fragments.stdout.strip(), fragments.stdout + fragments.stderr


def test_the_released_version_is_galaxys():
    releases = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())["releases"]
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert version in releases, f"galaxy.yml says {version}; changelog.yaml releases {sorted(releases)}"


def test_changelog_md_is_what_antsibull_generates(tmp_path):
    shutil.copytree(ROOT / "changelogs", tmp_path / "changelogs")
    shutil.copy2(ROOT / "galaxy.yml", tmp_path / "galaxy.yml")
    generated = run("generate", cwd=tmp_path)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    expected = (tmp_path / "CHANGELOG.md").read_text()
    assert (ROOT / "CHANGELOG.md").read_text() == expected, "run antsibull-changelog generate, commit it"
