"""A full disk during a checkpoint save, and a workbook kernel that dies: one line each, exit 3,
saying how to continue; the last whole checkpoint survives the full disk."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mtlib.__main__ import main

# what safetensors raises when the disk fills during save_file (its Rust io::Error, as text)
ENOSPC_FROM_SAFETENSORS = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'


def _tiny_argv(run_dir: Path, data_dir: Path) -> list[str]:
    argv = ["--encoder", "tiny-random", "--data_dir", str(data_dir), "--device", "cpu", "--max_length", "32"]
    argv += ["--batch_size", "4", "--max_train_examples", "16", "--max_eval_examples", "16", "--epochs", "2"]
    return argv + ["--updates_per_epoch", "2", "--lr", "1e-3", "--threads", "1", "--no-progress", "--save_path", str(run_dir)]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_full_disk_during_a_checkpoint_save_says_so_in_one_line_exits_3_and_resume_finishes_exactly(
    tmp_path, real_data_dir, monkeypatch, capsys
):
    import mtlib.store.checkpoints as checkpoints

    full = tmp_path / "full"
    assert main(_tiny_argv(full, real_data_dir)) == 0
    run_dir = tmp_path / "r"
    real_save, state_saves, kept = checkpoints.save_file, [], {}

    def disk_fills_at_the_second_state_save(tensors, filename, metadata=None):
        if Path(filename).parent.name == "state.new":
            state_saves.append(filename)
            if len(state_saves) == 2:  # epoch 2's state: epoch 1's is the last whole checkpoint
                kept.update(_files(run_dir / "state"))
                raise SafetensorError(ENOSPC_FROM_SAFETENSORS)
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoints, "save_file", disk_fills_at_the_second_state_save)
    assert main(_tiny_argv(run_dir, real_data_dir)) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mtlib: error: the disk is full: cannot write ") and "No space left on device" in err
    assert f"The last whole checkpoint is kept: free some space, then continue from it with: --resume {run_dir}" in err
    assert kept and _files(run_dir / "state") == kept, "the previous checkpoint must stay whole"
    assert not (run_dir / "state.new").exists() and not list((run_dir / "state").glob(".*.tmp"))

    monkeypatch.undo()
    assert main(["--resume", str(run_dir), "--threads", "1", "--no-progress"]) == 0
    a, b = load_file(str(full / "model.safetensors")), load_file(str(run_dir / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_full_disk_before_any_state_was_saved_says_to_start_again(tmp_path, real_data_dir, monkeypatch, capsys):
    import errno

    import mtlib.store.checkpoints as checkpoints

    def no_space(tensors, filename, metadata=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(filename))

    monkeypatch.setattr(checkpoints, "save_file", no_space)
    assert main(_tiny_argv(tmp_path / "r", real_data_dir)) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the disk is full" in err
    assert "No training state was saved before that: free some space, then run the same command again with --overwrite" in err


def test_a_killed_workbook_kernel_gives_one_line_exit_3_and_the_run_can_continue(tmp_path, monkeypatch, capsys):
    import papermill
    from nbclient.exceptions import DeadKernelError

    from mtlib.workbook.notebooks import runner

    def kernel_dies(source, output, **kw):
        raise DeadKernelError("Kernel died")  # what nbclient raises when the kernel process is killed

    monkeypatch.setattr(papermill, "execute_notebook", kernel_dies)
    assert runner.main(["--profile", "smoke", "--run", "k", "--runs_dir", str(tmp_path), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mtlib.workbook: error: the kernel running 01_data_exploration.ipynb died (Kernel died")
    assert err.rstrip().endswith("run the same command again to continue")
    assert runner.check_run_folder(tmp_path / "k", overwrite=False) == "continue"  # the same command continues, not refuses
