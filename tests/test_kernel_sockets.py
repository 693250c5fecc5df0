"""Two workbooks at once: each notebook kernel gets IPC sockets of its own."""

from __future__ import annotations

from pathlib import Path

from mtlib.workbook.notebooks.execute import _ipc_kernel_manager


def test_each_kernel_manager_has_its_own_socket_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manager_class = _ipc_kernel_manager()
    a, b = manager_class(), manager_class()
    assert a.transport == b.transport == "ipc"
    assert Path(a.ip).parent != Path(b.ip).parent
    assert Path(a.ip).parent.is_dir() and not Path(a.ip).is_relative_to(tmp_path)  # not kernel-ipc-N in the working directory
