"""The fault campaign's processes (scripts/chaos.py): the paper venue, the supervisor, the run's Ray
processes and the Ray helper, and the crude tools that break them from outside.

- The venue (`python -m scripts.chaos_venue`, i.e. venue.sim with its create audit) runs in a
  session of its own, outside Ray: it is the exchange, which outlives the system.
- Each supervisor incarnation runs in a session of its own with `RAY_TMPDIR` = the campaign's
  short Ray directory and the marker `LT_CHAOS_RUN=<run id>` in its environment, which every Ray
  process it starts inherits (gcs, raylet, workers, agents). A whole-node crash is SIGKILL of every
  process whose environment holds the marker (found in /proc/<pid>/environ), until none is left.
- The Ray helper (scripts/chaos_ray.py) joins the cluster to read actors' heartbeats, ray.kill
  them and find data-lane addresses; it carries the marker too, so a node crash takes it along.
- A data-lane drop is `ss -K` of every TCP connection to or from the lanes' listening ports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = "LT_CHAOS_RUN"


def marked_pids(run_id: str) -> list[int]:
    """Every live process whose environment carries this run's marker."""
    needle = f"{MARKER}={run_id}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                out.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return out


def crash_node(run_id: str, timeout_s: float = 20.0) -> int:
    """SIGKILL every process of the run (supervisor and Ray) until none is left; how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [p for p in marked_pids(run_id) if p != os.getpid()]
        alive = [p for p in pids if _state(p) not in ("Z", None)]
        if not alive:
            return len(killed)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)  # a process forked in the meantime is found in the next sweep
    raise RuntimeError(f"processes of run {run_id} still alive after {timeout_s:g} s")


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def read_url_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    """The value of the first stdout line starting with `prefix` (the process's start-up line)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"the process exited with status {proc.returncode} before it printed {prefix}")
    raise RuntimeError(f"no {prefix} line within {timeout_s:g} s")


def start_venue(args: list[str], log_path: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "scripts.chaos_venue", *args]
    env = {k: v for k, v in os.environ.items() if k != MARKER}
    err = log_path.open("a")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                            start_new_session=True)
    url = read_url_line(proc, "LIGHTER_SIM_URL=", 60.0)
    return proc, url


def start_supervisor(config: Path, env: Mapping[str, str], out_path: Path, err_path: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(ROOT / "supervisor.py"), "--config", str(config), "--operator-port", "0",
           "--status-interval", "30"]
    with out_path.open("ab") as out, err_path.open("ab") as err:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, env=dict(env), start_new_session=True)


def ray_address(ray_tmpdir: Path) -> str | None:
    """The GCS address of the run's newest Ray session (`<node ip>:<gcs port>`, as Ray writes it)."""
    from ray.util import get_node_ip_address

    ports = sorted((ray_tmpdir / "ray" / "session_latest").glob("gcs_server_port_*"))
    try:
        port = int(ports[0].read_text().strip())
    except (IndexError, OSError, ValueError):
        return None
    return f"{get_node_ip_address()}:{port}"


class RayHelper:
    """scripts/chaos_ray.py as a child: one JSON request a line, one answer a line."""

    def __init__(self, address: str, env: Mapping[str, str], log_path: Path, timeout_s: float = 60.0) -> None:
        self._err: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "scripts.chaos_ray", address], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     text=True, env=dict(env), start_new_session=True)
        first = self._read(timeout_s)
        if not first.get("ready"):
            raise RuntimeError(f"the Ray helper did not start: {first}")

    def _read(self, timeout_s: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"the Ray helper did not answer within {timeout_s:g} s")
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the Ray helper exited ({self.proc.poll()})")
            if line.startswith("{"):  # anything else is Ray talking on stdout
                answer: dict[str, Any] = json.loads(line)
                return answer

    def ask(self, request: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout_s)

    def stats(self, name: str) -> dict[str, float] | None:
        try:
            answer = self.ask({"op": "stats", "name": name})
        except (TimeoutError, RuntimeError, OSError):
            return None
        return answer.get("stats")

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._err.close()


def drop_lanes(addresses: Mapping[str, Any]) -> int:
    """Cut every established TCP connection to or from the lanes' listening ports (`ss -K`)."""
    cut = 0
    for address in addresses.values():
        if not address:
            continue
        host, port = address[0], int(address[1])
        for side in ("dst", "src"):
            done = subprocess.run(["ss", "-K", "-t", "-n", side, f"{host}:{port}"], capture_output=True, text=True,
                                  timeout=10)
            cut += sum(1 for line in done.stdout.splitlines()[1:] if line.strip())
    return cut


def log_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())


def tracebacks(paths: list[Path]) -> dict[str, int]:
    """Per log file, how many Python tracebacks it holds (only files that hold some)."""
    out = {}
    for path in log_files(paths):
        if path.suffix in (".db", ".sock") or "sockets" in path.parts:
            continue
        try:
            count = path.read_bytes().count(b"Traceback (most recent call last)")
        except OSError:
            continue
        if count:
            out[str(path)] = count
    return out


def secrets_in(paths: list[Path], secrets: list[str]) -> list[str]:
    """Files holding any of the secrets (as given, or without a 0x prefix), binary-safe."""
    needles = {s.removeprefix("0x").encode() for s in secrets if len(s.removeprefix("0x")) >= 16}
    found = []
    for path in log_files(paths):
        if "sockets" in path.parts:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if any(n in data or n.upper() in data for n in needles):
            found.append(str(path))
    return found


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGINT, timeout_s: float = 120.0) -> int | None:
    """Signal the process (not its group) and wait; its exit status, None if it did not exit."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
