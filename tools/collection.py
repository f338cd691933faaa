"""The collection as nox builds and tests it: the manifest, a staged copy, the
collections it depends on, and the plugins whose documentation must load."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "otus" / "pgrepl"


def galaxy() -> dict:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


def stage(dest: Path, *, keep_tests: bool = False) -> None:
    """A copy of the collection tree with the top-level manifest, license and changelog in it.

    The manifest lives once, at the top; builds and sanity tests get a staged
    copy with it. The built artifact leaves out the sanity ignore files.
    """
    ignore = ["__pycache__", "*.pyc", ".pytest_cache"] + ([] if keep_tests else ["tests"])
    shutil.copytree(COLLECTION, dest, ignore=shutil.ignore_patterns(*ignore))
    shutil.copy2(ROOT / "galaxy.yml", dest / "galaxy.yml")
    shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")
    shutil.copy2(ROOT / "CHANGELOG.md", dest / "CHANGELOG.md")
    # The changelog in the ecosystem's own format (antsibull-changelog), where Galaxy reads it.
    (dest / "changelogs").mkdir(exist_ok=True)
    for name in ("changelog.yaml", "config.yaml"):
        shutil.copy2(ROOT / "changelogs" / name, dest / "changelogs" / name)


def stage_for_sanity(root: Path) -> Path:
    """root/otus/pgrepl staged with its tests, its dependencies linked beside it (ansible-test wants both)."""
    staged = root / "otus" / "pgrepl"
    stage(staged, keep_tests=True)
    for fqcn in galaxy()["dependencies"]:
        namespace, name = fqcn.split(".")
        (root / namespace).mkdir(parents=True, exist_ok=True)
        (root / namespace / name).symlink_to(bundled_collection(fqcn))
    return staged


def offline_get_pip(home: Path) -> None:
    """ansible-test downloads get-pip.py from a host these machines cannot reach; it uses a cached copy."""
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy2(
        ROOT / "tools" / "get_pip_offline.py", cache / f"get_pip_{ansible_test_pip().replace('.', '_')}.py"
    )


def ansible_test_pip() -> str:
    """The pip version ansible-test bootstraps into its virtualenvs."""
    import ansible_test._internal.python_requirements as reqs  # noqa: PLC0415 - only the sanity tests need it

    found = re.search(r"pip='([0-9.]+)'", Path(reqs.__file__).read_text())
    if found is None:
        raise RuntimeError(
            f"no pip version found in {reqs.__file__}: update tools/collection.ansible_test_pip"
        )
    return found.group(1)


def bundled_collection(fqcn: str) -> Path:
    """Where the `ansible` package keeps a collection it bundles."""
    spec = importlib.util.find_spec(f"ansible_collections.{fqcn}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{fqcn} is not in the ansible package: pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations)))


def documented_plugins(root: Path) -> list[tuple[str, str]]:
    """(kind, name) of each plugin of an installed collection whose documentation ansible-doc must load."""
    found = [("module", p.stem) for p in sorted((root / "plugins" / "modules").glob("*.py"))]
    found += [("filter", p.stem) for p in sorted((root / "plugins" / "filter").glob("*.yml"))]
    found += [("connection", p.stem) for p in sorted((root / "plugins" / "connection").glob("*.py"))]
    return [(k, n) for k, n in found if not n.startswith("_")]


def tarball_name() -> str:
    return f"otus-pgrepl-{galaxy()['version']}.tar.gz"


def build_tarball(output: Path) -> Path:
    """output/otus-pgrepl-VERSION.tar.gz, built by ansible-galaxy from a staged copy (replaced if there)."""
    output.mkdir(parents=True, exist_ok=True)
    tarball = output / tarball_name()
    # Gone first, so that the check below cannot pass on an earlier build's file.
    tarball.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="otus-pgrepl-build-") as tmp:
        staged = Path(tmp) / "pgrepl"
        stage(staged)
        galaxy_cli = Path(sys.executable).parent / "ansible-galaxy"
        argv = [str(galaxy_cli), "collection", "build", str(staged), "--output-path", str(output), "--force"]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    if not tarball.is_file():
        raise RuntimeError(f"ansible-galaxy built no {tarball}")
    return tarball


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.collection", description="Build the collection's tarball."
    )
    parser.add_argument("output", type=Path, help="directory to write otus-pgrepl-VERSION.tar.gz into")
    args = parser.parse_args(argv)
    print(build_tarball(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
