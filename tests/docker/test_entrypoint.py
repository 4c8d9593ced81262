"""What the image runs, run outside Docker: the entrypoint's user choice, the Dockerfile's files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="dropping to the project's owner needs root and setpriv, as in the image",
)


def enter(project: Path, *args: str, program: str = "id") -> str:
    env = {
        **os.environ,
        "KINTONE_SYNC_PROJECT_DIR": str(project),
        "KINTONE_SYNC_PROGRAM": program,
    }
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@needs_root
def test_a_mounted_project_is_used_as_its_owner(tmp_path: Path) -> None:
    os.chown(tmp_path, 12345, 12346)
    assert enter(tmp_path, "-u") == "12345"
    assert enter(tmp_path, "-g") == "12346"
    assert enter(tmp_path, "-G") == "12346"  # no supplementary groups of root's


@needs_root
def test_a_root_owned_project_runs_as_the_images_user(tmp_path: Path) -> None:
    os.chown(tmp_path, 0, 0)
    assert enter(tmp_path, "-u") == "10001"
    assert os.stat(tmp_path).st_uid == 0  # the mount's owner is never changed


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory another user can reach (pytest's own temporary root is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="kintone-sync-entrypoint-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_the_state_written_through_the_entrypoint_belongs_to_the_owner(shared: Path) -> None:
    tmp_path = shared / "project"
    tmp_path.mkdir()
    os.chown(tmp_path, 12345, 12345)
    script = (
        "import pathlib; p = pathlib.Path('.kintone-sync'); p.mkdir(); (p / 's').write_text('x')"
    )
    env = {**os.environ, "KINTONE_SYNC_PROJECT_DIR": str(tmp_path), "KINTONE_SYNC_PROGRAM": "sh"}
    subprocess.run(
        ["sh", str(ENTRYPOINT), "-c", f'cd "{tmp_path}" && python3 -c "{script}"'],
        env=env,
        check=True,
    )
    assert (tmp_path / ".kintone-sync" / "s").stat().st_uid == 12345


def test_a_non_root_start_runs_as_given(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to start as a non-root user")
        env = {**os.environ, "KINTONE_SYNC_PROJECT_DIR": str(tmp_path)}
        env["KINTONE_SYNC_PROGRAM"] = "id"
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=4242",
                "--regid=4242",
                "--clear-groups",
                "sh",
                str(ENTRYPOINT),
                "-u",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == "4242"
    else:
        assert enter(tmp_path, "-u") == str(os.geteuid())


def test_the_real_program_runs_through_the_entrypoint(tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "kintone-sync"
    program = str(beside) if beside.exists() else shutil.which("kintone-sync")
    if program is None:
        pytest.skip("kintone-sync is not on PATH (install the project first)")
    tmp_path.chmod(0o777)
    out = enter(tmp_path, "schema", program=program)
    assert json.loads(out)["title"] == "MappingSpec"


def test_the_dockerfile_copies_what_exists_and_runs_a_real_command() -> None:
    from click.testing import CliRunner

    from connector.cli import main

    text = (REPO / "docker" / "Dockerfile").read_text(encoding="utf-8")
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M):
        assert (REPO / source).exists(), source
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    result = CliRunner().invoke(main, [*cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "site-packages" not in text
