"""wrk, driven from Python: one scenario at a time against the gateway, a JSON summary back."""

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# wrk's Lua hooks: `request` builds each request, `done` prints the summary as one JSON line.
_SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # A wrk thread stops at the first answer with this status (a flash sale ends when it is sold out).
    stop_on_status: int | None = None

    def lua(self) -> str:
        headers = "".join(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n" for name, value in self.headers)
        body = f"wrk.body = {json.dumps(self.body)}\n" if self.body is not None else ""
        stop = (
            f"response = function(status, headers, body)\n  if status == {self.stop_on_status} then"
            " wrk.thread:stop() end\nend\n"
            if self.stop_on_status is not None
            else ""
        )
        return f'wrk.method = "{self.method}"\n{headers}{body}{stop}{_SUMMARY}'


@dataclass(frozen=True)
class Result:
    scenario: str
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("make bench needs wrk: apt-get install wrk")
    return path


def run(
    base_url: str, scenario: Scenario, *, seconds: int, connections: int, warmup: int = 0, threads: int = 2
) -> Result:
    """Load `scenario` for `seconds` with `connections` open connections, after `warmup` seconds of the same
    load unmeasured; wrk's own figures."""
    if warmup > 0:
        _wrk(base_url, scenario, seconds=warmup, connections=connections, threads=threads)
    summary = _wrk(base_url, scenario, seconds=seconds, connections=connections, threads=threads)
    return Result(
        scenario=scenario.name,
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        non_2xx=summary["non_2xx"],
        socket_errors=summary["socket_errors"],
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
    )


def _wrk(base_url: str, scenario: Scenario, *, seconds: int, connections: int, threads: int) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "scenario.lua"
        script.write_text(scenario.lua())
        completed = subprocess.run(
            [
                require_wrk(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base_url + scenario.path,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    # wrk's own report comes first; the `done` hook's JSON line is ours.
    [line] = [line for line in completed.stdout.splitlines() if line.startswith('{"requests"')]
    summary: dict[str, int] = json.loads(line)
    return summary
