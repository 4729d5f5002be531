"""The figures the health loop samples: CPU, memory and disk (host or cgroup), and the unary RPC
latency window fed by the `observe` hook — and what that costs on the hot path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from voka import hooks
from voka.calls import Call
from voka.latency import LatencyWindow
from voka.system import SystemSampler, disk_percent

METHOD = "/voka.kinect.v1.KinectService/GetStatus"


def _write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_host_figures_are_percentages(tmp_path: Path):
    figures = SystemSampler(tmp_path).sample()
    for value in (figures.cpu_percent, figures.memory_percent, figures.disk_percent):
        assert 0 <= value <= 100
    assert figures.memory_percent > 0
    assert figures.sample_time.seconds > 0


def test_host_cpu_is_busy_time_over_all_time_since_the_last_sample(tmp_path: Path):
    proc = tmp_path / "proc"
    stat = "cpu  {user} 0 {system} {idle} 0 0 0 0 0 0\ncpu0 1 1 1 1\n"
    _write(proc, {"stat": stat.format(user=100, system=0, idle=100),
                  "meminfo": "MemTotal: 1000 kB\nMemAvailable: 250 kB\n"})  # fmt: skip
    sampler = SystemSampler(tmp_path, cgroup=tmp_path / "none", proc=proc)
    _write(proc, {"stat": stat.format(user=130, system=10, idle=160)})  # 40 busy of 100
    figures = sampler.sample()
    assert figures.cpu_percent == 40
    assert figures.memory_percent == 75


def test_container_limits_win_over_the_host(tmp_path: Path):
    cgroup = _write(tmp_path / "cgroup", {
        "cpu.max": "50000 100000\n",  # half a CPU
        "cpu.stat": "usage_usec 0\nuser_usec 0\n",
        "memory.max": "1000\n",
        "memory.current": "900\n",
    })  # fmt: skip
    sampler = SystemSampler(tmp_path, cgroup=cgroup, proc=tmp_path / "none")
    started = time.monotonic()
    time.sleep(0.2)
    _write(cgroup, {"cpu.stat": "usage_usec 50000\n"})  # 0.05 s of CPU
    figures = sampler.sample()
    half_cpu = 0.5 * (time.monotonic() - started)
    assert figures.cpu_percent == pytest.approx(100 * 0.05 / half_cpu, rel=0.2)
    assert figures.memory_percent == 90


def test_disk_of_a_directory_not_made_yet_is_its_filesystems(tmp_path: Path):
    assert disk_percent(tmp_path / "not" / "yet") == disk_percent(tmp_path)


def test_p95_over_the_window():
    window = LatencyWindow(seconds=60)
    for ms in range(1, 101):
        window.record(METHOD, ms / 1000)
    figures = window.figures()
    assert figures.calls == 100
    assert figures.p95_latency.ToMilliseconds() == 95
    assert figures.window.seconds == 60


def test_old_calls_leave_the_window():
    window = LatencyWindow(seconds=0.1)
    window.record(METHOD, 3.0)
    time.sleep(0.15)
    window.record(METHOD, 0.01)
    figures = window.figures()
    assert (figures.calls, figures.p95_latency.ToMilliseconds()) == (1, 10)


def test_figures_per_rpc_count_calls_errors_and_rate():
    window = LatencyWindow(seconds=10)
    other = "/voka.kinect.v1.KinectService/MoveMotor"
    for ms in range(1, 21):
        window.record(METHOD, ms / 1000, ok=ms % 5 != 0)
    window.record(other, 0.5, ok=False)
    busiest, quiet = window.figures().methods
    assert (busiest.method, busiest.calls, busiest.errors) == (METHOD, 20, 4)
    assert busiest.calls_per_second == 2.0
    assert busiest.p95_latency.ToMilliseconds() == 19
    assert (quiet.method, quiet.calls, quiet.errors) == (other, 1, 1)
    assert quiet.p95_latency.ToMilliseconds() == 500


def test_the_window_is_bounded():
    window = LatencyWindow(capacity=10)
    for _ in range(100):
        window.record(METHOD, 1.0)
    assert window.figures().calls == 10


class _Context:
    def __init__(self, code: grpc.StatusCode | None = None) -> None:
        self._code = code

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def code(self) -> grpc.StatusCode | None:
        return self._code


async def _call(
    hook: Any, method: str, streaming: bool = False, code: grpc.StatusCode | None = None
) -> None:
    context = _Context(code)
    async with hook(Call(method=method, context=context, streaming_response=streaming)):  # type: ignore[arg-type]
        pass


async def test_observe_times_unary_calls_of_the_service_api_only():
    window = LatencyWindow()
    hook = hooks.observe(window)
    await _call(hook, "/voka.kinect.v1.KinectService/GetStatus")
    await _call(hook, "/voka.kinect.v1.KinectService/StreamFrames", streaming=True)
    await _call(hook, "/grpc.health.v1.Health/Check")
    await _call(hook, "/voka.ops.v1.OpsService/GetHealth")
    assert window.figures().calls == 1


async def test_observe_counts_a_call_that_failed_as_an_error_of_its_rpc():
    window = LatencyWindow()
    hook = hooks.observe(window)
    await _call(hook, METHOD)
    await _call(hook, METHOD, code=grpc.StatusCode.NOT_FOUND)
    (figures,) = window.figures().methods
    assert (figures.method, figures.calls, figures.errors) == (METHOD, 2, 1)


def test_recording_costs_well_under_a_microsecond():
    window = LatencyWindow()
    count = 100_000
    start = time.perf_counter()
    for _ in range(count):
        window.record(METHOD, 0.001)
    per_call = (time.perf_counter() - start) / count
    assert per_call < 2e-6, f"{per_call * 1e6:.2f} µs per call"
