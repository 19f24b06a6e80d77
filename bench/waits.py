"""Benchmark, not a test: how long the waits the auditor's client relies on really take.

The suite asserts *what* was waited (python-gitlab's recorded sleeps: `Retry-After: 1` after
a 429, 0.1 s back-off after a gateway 502, the simulator's injected latency); this measures
*how long* it took on this machine, which the suite never asserts because CI machines are
shared and noisy. Run: `python3 bench/waits.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import gitlab

from auditor.simulator.faults import Faults
from auditor.simulator.server import SimulatorServer
from auditor.simulator.world import World


def _served(faults: Faults) -> tuple[World, SimulatorServer]:
    world = World(datetime(2026, 11, 16, 9, tzinfo=UTC))
    world.project("acme/tiny").commit(
        "main", "Only", {"a": "a\n"}, world.user("dana"), datetime(2026, 11, 1, tzinfo=UTC)
    )
    server = SimulatorServer(world, faults=faults)
    server.start()
    return world, server


def _timed(faults: Faults, call: Callable[[gitlab.Gitlab], object], repeat: int) -> list[float]:
    world, server = _served(faults)
    try:
        gl = gitlab.Gitlab(world.url, private_token=world.token, retry_transient_errors=True)
        gl.auth()
        out = []
        for _ in range(repeat):
            server.reset_counts()  # and the every-Nth fault counters
            gl.auth()  # the request before the faulty one
            start = time.perf_counter()
            call(gl)
            out.append(time.perf_counter() - start)
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "429 then Retry-After: 1 (expect >= 1.0 s)": Faults(rate_limit_every=2),
        "502 then back-off (expect ~0.1 s)": Faults(error_every=2),
        "injected latency 0.15 s per answer": Faults(latency=0.15),
    }
    for name, faults in cases.items():
        seconds = _timed(faults, lambda gl: gl.projects.get("acme/tiny"), args.repeat)
        print(f"{name:45s} median {statistics.median(seconds):.3f} s  ({len(seconds)} runs)")


if __name__ == "__main__":
    main()
