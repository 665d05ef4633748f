#!/usr/bin/env python3
"""Celery 5 on Redis, measured the way `ots bench dispatch` measures OTS.

From `apply_async` to the first line of the task's body, one task at a time
(each sent once the previous one has run, so the worker is idle and waiting),
with a prefork worker of concurrency 1 and a Redis server of its own on a free
loopback port (no persistence). Percentiles are nearest-rank, the rule of
OTS's `Percentiles`.

    pip install 'celery[redis]'; apt-get install redis-server
    python3 scripts/bench/celery_dispatch.py --tasks 1000 [--json]

It is a yardstick for docs/benchmarks.md, not part of OTS: nothing in OTS
imports or runs it.
"""

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import celery
from celery import Celery

# The worker finds its Redis here; main() points the same app at it.
PORT = int(os.environ.get("OTS_BENCH_REDIS_PORT", "6379"))
URL = f"redis://127.0.0.1:{PORT}/0"

app = Celery("celery_dispatch", broker=URL, backend=URL)
app.conf.update(worker_prefetch_multiplier=1, result_expires=600, broker_connection_retry_on_startup=True)


@app.task
def started():
    """When the body began, in the wall clock both processes share."""
    return time.time_ns()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nearest_rank(sorted_values, p):
    rank = min(len(sorted_values), max(1, math.ceil(len(sorted_values) * p)))
    return sorted_values[rank - 1]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    sys.exit(f"celery_dispatch: {what} within {seconds} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks to send, one after another")
    parser.add_argument("--warmup", type=int, default=50, help="tasks sent first and not counted")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if args.tasks < 1 or args.warmup < 0:
        sys.exit("celery_dispatch: --tasks must be positive and --warmup not negative")
    if shutil.which("redis-server") is None:
        sys.exit("celery_dispatch: redis-server is not installed (apt-get install redis-server)")

    port = free_port()
    env = dict(os.environ, OTS_BENCH_REDIS_PORT=str(port))
    folder = tempfile.mkdtemp(prefix="ots-bench-celery-")
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    worker = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_dispatch", "worker", "--pool", "prefork", "--concurrency", "1",
             "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=here, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        app.conf.update(broker_url=url, result_backend=url)
        wait_for(lambda: bool(app.control.ping(timeout=0.5)), 60, "the worker did not answer a ping")

        measured = []
        for index in range(args.warmup + args.tasks):
            sent = time.time_ns()
            began = started.apply_async().get(timeout=30)
            if index >= args.warmup:
                measured.append((began - sent) / 1e6)
        measured.sort()
        report = {
            "system": f"celery {celery.__version__} on redis",
            "tasks": args.tasks,
            "median_ms": round(nearest_rank(measured, 0.5), 3),
            "p90_ms": round(nearest_rank(measured, 0.9), 3),
            "p99_ms": round(nearest_rank(measured, 0.99), 3),
            "max_ms": round(measured[-1], 3),
        }
        if args.json:
            print(json.dumps(report))
        else:
            print(f"{report['system']}: apply_async → task body, {args.tasks} tasks")
            for key in ("median_ms", "p90_ms", "p99_ms", "max_ms"):
                print(f"  {key[:-3]:<7} {report[key]:8.3f} ms")
    finally:
        for process in (worker, redis):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
