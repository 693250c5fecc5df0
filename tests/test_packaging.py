"""pyproject.toml and environment.yml list the same dependencies; torch stays pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {r.strip() for r in project["dependencies"]} | {r.strip() for r in project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {r.strip() for r in pip_section if not r.startswith("-e")}
    assert listed == declared, f"only in environment.yml: {listed - declared}; only in pyproject: {declared - listed}"
    assert "torch==2.13.0" in declared
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str))


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make workbook" in readme


def test_the_wheel_ships_the_profiles(tmp_path):
    """A non-editable install reads its profiles from the package (`mtlib.util.paths.profiles_dir`)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("mtlib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for profile in (ROOT / "mtlib" / "profiles").glob("*.yaml"):
        assert f"mtlib/profiles/{profile.name}" in names
