"""`python -m local up / status / down`: a detached stack that leaves no process behind."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from local import __main__ as cli
from tests import web
from warmline_cli.api import process_alive

from .conftest import FIXTURE_TEMPLATE, REPO_ROOT


def run_cli(state_dir, *arguments, timeout=120):
    environment = {key: value for key, value in os.environ.items() if key != "ELEVENLABS_BASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "local", "--state-dir", str(state_dir), *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def group_members(process_group: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == process_group and stat[0] != "Z":
                members.append(int(entry))
    return members


def test_up_status_down_leave_no_process_behind(tmp_path):
    state_dir = tmp_path / "state"
    up = run_cli(state_dir, "up", "--template", str(FIXTURE_TEMPLATE), "--visibility-timeout", "1")
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((state_dir / "local.json").read_text())
    try:
        assert f"API base URL: {state['api_base_url']}" in up.stdout
        assert "creating the resources" in up.stdout
        assert set(state["endpoints"]) == {"EchoGet", "EchoPost", "Item", "Boom", "Slow", "State"}
        assert state["secrets"].keys() == {"TokenSecret"}
        assert web.get(state["endpoints"]["EchoGet"], timeout=10).status_code == 200
        pids = list(state["pids"].values())
        assert all(process_alive(pid) for pid in pids)
        group = state["process_group"]
        assert group == state["pids"]["stack"]
        assert len(group_members(group)) >= 3  # the stack, moto and the echo function

        again = run_cli(state_dir, "up", "--template", str(FIXTURE_TEMPLATE))
        assert again.returncode == 1 and "already up" in again.stderr
        status = run_cli(state_dir, "status")
        assert status.returncode == 0 and state["api_base_url"] in status.stdout
    finally:
        down = run_cli(state_dir, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(process_alive(pid) for pid in pids)
    assert group_members(group) == []
    assert not (state_dir / "local.json").exists()

    assert run_cli(state_dir, "down").returncode == 0
    assert run_cli(state_dir, "status").returncode == 1


def test_down_kills_a_stack_that_ignores_sigterm(tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
        ],
        start_new_session=True,
    )
    time.sleep(0.2)
    (state_dir / "local.json").write_text(
        json.dumps(
            {
                "api_base_url": "http://127.0.0.1:1",
                "pids": {"stack": stubborn.pid},
                "process_group": stubborn.pid,
            }
        )
    )
    monkeypatch.setattr(cli, "DOWN_TIMEOUT_S", 0.5)
    assert cli.main(["--state-dir", str(state_dir), "down"]) == 0
    assert stubborn.wait(timeout=5) == -9
