"""`make lab` (mtlib.workbook.notebooks.lab): each profile's own notebook copies, the command it starts
(--allow-root as root), and notebooks that a Lab save without edits leaves clean in git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat

from mtlib.workbook.notebooks import lab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def git_project(folder: Path, notebooks: list[Path] = NOTEBOOKS, attributes: bool = True) -> Path:
    """A temporary git checkout holding copies of `notebooks` in notebooks/, committed."""
    (folder / "notebooks").mkdir(parents=True)
    for path in notebooks:
        (folder / "notebooks" / path.name).write_bytes(path.read_bytes())
    if attributes:
        (folder / ".gitattributes").write_bytes((ROOT / ".gitattributes").read_bytes())
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "notebooks")
    return folder


def test_each_lab_profile_works_on_its_own_copies_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLIB_ROOT", str(tmp_path))
    monkeypatch.delenv("MTLIB_LABS", raising=False)
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        (tmp_path / "notebooks" / path.name).write_bytes(path.read_bytes())
    smoke, cpu = lab.lab_folder("smoke"), lab.lab_folder("cpu")
    assert (smoke, cpu) == (tmp_path / "labs" / "smoke", tmp_path / "labs" / "cpu")
    said = lab.prepare_copies(smoke) + lab.prepare_copies(cpu)
    assert len(said) == 2 * len(NOTEBOOKS) and said[0].startswith("copied notebooks/01_")
    name = "02_individual_pretraining.ipynb"
    for folder in (smoke, cpu):
        assert (folder / name).read_bytes() == (tmp_path / "notebooks" / name).read_bytes()
    # the default Lab saves run_name and retrain into its copy: the smoke Lab's copy and notebooks/ never see it
    edited = (cpu / name).read_text().replace(r"run_name: str = \"\"", r"run_name: str = \"ux-cpu-progress\"")
    assert edited != (cpu / name).read_text()
    (cpu / name).write_text(edited)
    assert lab.prepare_copies(cpu) == [] and (cpu / name).read_text() == edited  # never overwritten
    assert "ux-cpu-progress" not in (smoke / name).read_text() + (tmp_path / "notebooks" / name).read_text()
    # the committed notebook changes later: said, the copy kept
    source = tmp_path / "notebooks" / name
    source.write_text(source.read_text().replace("# train the stage again", "# train stage 1 again"))
    said = lab.prepare_copies(cpu)
    assert said == [
        f"notebooks/{name} has changed since labs/cpu/{name} was copied from it; your copy is kept (delete or rename it to start again from the new one)"
    ]
    assert (cpu / name).read_text() == edited


def test_make_lab_serves_the_profiles_folder_and_allows_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_ROOT", str(tmp_path))
    monkeypatch.delenv("MTLIB_LABS", raising=False)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / NOTEBOOKS[0].name).write_bytes(NOTEBOOKS[0].read_bytes())
    folder = lab.lab_folder("smoke")
    as_root = lab.lab_command(folder, ["--no-browser"], as_root=True)
    assert as_root[1:4] == ["-m", "jupyter", "lab"] and f"--ServerApp.root_dir={tmp_path}" in as_root
    assert "--LabApp.default_url=/lab/tree/labs/smoke" in as_root and as_root[-2:] == ["--allow-root", "--no-browser"]
    assert "--allow-root" not in lab.lab_command(folder, [], as_root=False)
    started = {}
    monkeypatch.setattr(lab.os, "execve", lambda path, command, env: started.update(command=command, profile=env["MTLIB_PROFILE"]))
    assert lab.main(["--profile", "smoke", "--no-git-filter", "--no-browser"]) == 0
    assert started["profile"] == "smoke" and started["command"][-1] == "--no-browser"
    assert (folder / NOTEBOOKS[0].name).is_file()
    # an unknown profile: one line, exit 2, no copies
    assert lab.main(["--profile", "nosuch", "--no-git-filter"]) == 2
    assert "nosuch" in capsys.readouterr().err and not (tmp_path / "labs" / "nosuch").exists()


def test_committed_notebooks_hold_the_metadata_lab_writes_but_the_python_version(tmp_path):
    """Lab writes the kernel's language_info (Python version included) into a notebook it opens:
    the committed notebooks hold it all but the version, and git's filter strips the version, so
    a notebook saved by Lab without edits leaves `git diff` empty; without the filter it would not."""
    from ipykernel.ipkernel import IPythonKernel

    kernel = dict(IPythonKernel.language_info)
    for path in NOTEBOOKS:
        meta = json.loads(path.read_text())["metadata"]
        assert meta["language_info"] == {k: v for k, v in kernel.items() if k != "version"}, path.name
        assert meta["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}, path.name

    def save_as_lab(project: Path) -> None:
        for path in (project / "notebooks").glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            nb.metadata.language_info = {**kernel, "version": "3.99.1"}  # another machine's Python
            nbformat.write(nb, path)

    with_filter = git_project(tmp_path / "with")
    assert "installed git's notebook filter" in lab.install_git_filter(with_filter)
    assert lab.install_git_filter(with_filter) is None  # once
    save_as_lab(with_filter)
    assert "3.99.1" in (with_filter / "notebooks" / NOTEBOOKS[0].name).read_text()
    assert git(with_filter, "diff") == ""  # git diff --quiet: no change
    git(with_filter, "add", "-A")  # stages nothing; and git status, which judged by the file's size first, is clean after it
    assert git(with_filter, "diff", "--cached") == "" and git(with_filter, "status", "--porcelain") == ""
    without = git_project(tmp_path / "without", attributes=False)
    save_as_lab(without)
    assert git(without, "diff", "--stat").count("notebooks/") == len(NOTEBOOKS)
