"""Start and stop the real app (`python -m streamlit run app.py`) on a free loopback port, for the browser suite."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> AppServer:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} is taken")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
        # A secrets file of its own (absent unless a test writes it): never a developer's, which may hold credentials.
        secrets = self.data_dir / "secrets.toml"
        env.update({"AKARI_DATA_DIR": str(self.data_dir), "AKARI_BCRYPT_ROUNDS": "4", "PYTHONUNBUFFERED": "1",
                    "AKARI_SECRETS_FILE": str(secrets)})
        env.update(self.env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "server.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "server.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--secrets.files", str(secrets)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited early:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).text == "ok":
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the app did not become healthy in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def cli(server: AppServer, *args: str, stdin: str | None = None) -> str:
    """The command line against the app's own database and providers."""
    return _run(server, ["-m", "akari", *args], stdin)


def cli_many(server: AppServer, runs: list[list[str]]) -> list[str]:
    """Several command lines in one process, for setting up many rows at once; each one's output."""
    return json.loads(_run(server, ["-m", "tests.e2e.cli_batch"], json.dumps(runs)))


def _run(server: AppServer, args: list[str], stdin: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
    env.update({"AKARI_DATA_DIR": str(server.data_dir), "AKARI_BCRYPT_ROUNDS": "4", **server.env})
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, input=stdin,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout
