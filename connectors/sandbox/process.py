"""A ``leadsync sandbox serve`` child process for tests that must SIGKILL the sandbox or run it apart::

with run_subprocess(contacts=50, time_scale=100) as proc:
    proc.hubspot_url, proc.ca_path, proc.credentials("hubspot"), proc.counters()
    proc.configure_faults(rate_5xx=0.2); proc.advance_clock(3600); proc.kill()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any


class SandboxProcess:
    """A ``leadsync sandbox serve`` child process, healthy once constructed; stop it with ``stop``/``kill``."""

    def __init__(self, args: Sequence[str], *, timeout: float = 60.0, env: Mapping[str, str] | None = None):
        self._tmp = tempfile.TemporaryDirectory(prefix="leadsync-sandbox-proc-")
        tmp = Path(self._tmp.name)
        self.ready_file = tmp / "ready.json"
        self.log_path = tmp / "sandbox.log"
        self.ca_path = str(tmp / "sandbox-ca.pem")
        cmd = [
            sys.executable,
            "-m",
            "connectors.sandbox.cli",
            "serve",
            *args,
            "--ready-file",
            str(self.ready_file),
            "--ca-path",
            self.ca_path,
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
        )
        self.info: dict[str, Any] = {}
        self._final_output: str | None = None
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            self._cleanup()
            raise

    def _wait_ready(self, timeout: float) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox process exited with {self.process.returncode}:\n{self.output()}")
            if self.ready_file.exists():
                self.info = json.loads(self.ready_file.read_text())
                if requests.get(f"{self.http_url}/_sandbox/health", timeout=5).ok:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"the sandbox process was not healthy within {timeout:.0f} s:\n{self.output()}")

    # -- addresses and credentials --------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return str(self.info["http_url"])

    @property
    def https_url(self) -> str:
        return str(self.info["https_url"])

    @property
    def hubspot_url(self) -> str:
        return str(self.info["urls"]["hubspot"])

    @property
    def salesforce_url(self) -> str:
        return str(self.info["urls"]["salesforce"])

    @property
    def pipedrive_url(self) -> str:
        return str(self.info["urls"]["pipedrive"])

    def credentials(self, crm: str) -> dict[str, str]:
        return dict(self.info["credentials"].get(crm, {}))

    # -- control endpoints ---------------------------------------------------------------------------------
    def _control(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        import requests

        response = requests.request(method, f"{self.http_url}/_sandbox/{path}", json=body, timeout=10)
        if response.status_code >= 400:
            raise ValueError(f"sandbox {method} /_sandbox/{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def counters(self) -> dict[str, dict[int, int]]:
        raw = self._control("GET", "counters")
        return {endpoint: {int(s): n for s, n in statuses.items()} for endpoint, statuses in raw.items()}

    def calls(self, prefix: str = "", status: int | None = None) -> int:
        return sum(
            n
            for endpoint, statuses in self.counters().items()
            if endpoint.startswith(prefix)
            for st, n in statuses.items()
            if status is None or st == status
        )

    def reset_counters(self) -> None:
        self._control("DELETE", "counters")

    def configure_faults(self, **settings: Any) -> dict[str, Any]:
        state: dict[str, Any] = self._control("POST", "faults", settings)
        return state

    def faults(self) -> dict[str, Any]:
        state: dict[str, Any] = self._control("GET", "faults")
        return state

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        state: dict[str, Any] = self._control("POST", "clock", {"advance": seconds})
        return state

    def set_clock(self, when: datetime) -> dict[str, Any]:
        state: dict[str, Any] = self._control("POST", "clock", {"set": when.isoformat()})
        return state

    # -- lifecycle -----------------------------------------------------------------------------------------
    def output(self) -> str:
        """The last 4,000 characters the process printed (kept after it stopped)."""
        if self._final_output is not None:
            return self._final_output
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait (SIGKILL if it does not stop in ``timeout``); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._cleanup()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the sandbox dies without any cleanup, as in a crash."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _cleanup(self) -> None:
        if self._final_output is None:
            self._final_output = self.output()
        with contextlib.suppress(OSError):
            self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_subprocess(
    *,
    seed: int = 7,
    contacts: int = 100,
    activities: float = 10.0,
    crm: str = "all",
    db_path: str | None = None,
    time_scale: float = 1.0,
    rate_limits: bool = True,
    faults: Mapping[str, Any] | None = None,
    limits: Mapping[str, Mapping[str, Any]] | None = None,
    now: datetime | None = None,
    port: int = 0,
    tls_port: int = 0,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> SandboxProcess:
    """Start ``leadsync sandbox serve`` in a child process and wait until it answers its health check."""
    args = [
        f"--port={port}",
        f"--tls-port={tls_port}",
        f"--seed={seed}",
        f"--contacts={contacts}",
        f"--activities={activities}",
        f"--crm={crm}",
        f"--time-scale={time_scale}",
    ]
    if not rate_limits:
        args.append("--no-rate-limits")
    if db_path:
        args.append(f"--db={db_path}")
    if faults:
        args.append(f"--faults-json={json.dumps(dict(faults), default=sorted)}")
    if limits:
        args.append(f"--limits-json={json.dumps({k: dict(v) for k, v in limits.items()})}")
    if now is not None:
        args.append(f"--now={now.isoformat()}")
    args += list(extra_args)  # e.g. ["--webhook-url=http://127.0.0.1:8787/webhooks"]
    return SandboxProcess(args, timeout=timeout, env=env)
