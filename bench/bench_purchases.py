"""Benchmark the POS purchase endpoint under gunicorn on PostgreSQL, against pgbench.

One round:

1. creates a fresh database, migrates it, seeds a store, a terminal and members;
2. starts gunicorn on a free loopback port and warms it up;
3. open loop: offers ``--rate`` purchases/s for ``--open-seconds`` from a separate process
   and reports the achieved rate and p50/p95/p99 latency (the p99 target applies here);
4. closed loop: ``--purchases`` purchases at ``--concurrency`` for the maximum req/s;
   then the same at the framework floor (``GET /api/pos/v1/terminal``: authentication and
   a JSON reply, no SQL), which shows what part of the ratio any Django request can reach;
5. stops gunicorn, runs pgbench's built-in TPC-B-like script at the same concurrency on
   the same server, and prints purchase req/s ÷ pgbench TPS;
6. writes the numbers to ``bench/results/`` and drops both databases.

``--repeat K`` does all of that K times and prints the medians. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_env import app_env

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RATIO_TARGET = 0.35
P99_TARGET_MS = 50.0
# The open loop counts as sustained when it completes at least this share of the offered rate.
SUSTAINED_SHARE = 0.95
STORE_CODE = "BENCH"


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    sys.stderr.write(f"[bench {stamp}] {message}\n")
    sys.stderr.flush()


def venv_executable(name: str) -> str:
    candidate = PROJECT_ROOT / ".venv" / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found (expected {candidate})")
    return found


def postgres_env(server_url: str) -> dict[str, str]:
    """Environment for the PostgreSQL client tools (createdb, dropdb, psql, pgbench)."""
    parts = urllib.parse.urlsplit(server_url)
    env = dict(os.environ)
    env["PGHOST"] = parts.hostname or "127.0.0.1"
    env["PGPORT"] = str(parts.port or 5432)
    env["PGUSER"] = parts.username or "postgres"
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def run_checked(command: list[str], *, env: dict[str, str], timeout: float) -> str:
    completed = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:3])} … failed ({completed.returncode}):\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    return completed.stdout


@contextlib.contextmanager
def fresh_database(name: str, *, pg_env: dict[str, str], keep: bool) -> Iterator[None]:
    run_checked(["dropdb", "--if-exists", "--force", name], env=pg_env, timeout=60)
    run_checked(["createdb", name], env=pg_env, timeout=60)
    try:
        yield
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            with contextlib.suppress(Exception):
                run_checked(["dropdb", "--if-exists", "--force", name], env=pg_env, timeout=60)


def checkpoint(database: str, pg_env: dict[str, str]) -> None:
    """Flush dirty pages so each measured phase starts from a similar server state."""
    run_checked(["psql", "-q", "-d", database, "-c", "CHECKPOINT"], env=pg_env, timeout=120)


def cpu_busy_share(seconds: float = 2.0) -> float:
    """Share of all cores busy over ``seconds`` (Linux /proc/stat); 0.0 where unavailable."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy_before, total_before = sample()
        time.sleep(seconds)
        busy_after, total_after = sample()
    except OSError:
        return 0.0
    elapsed = total_after - total_before
    return (busy_after - busy_before) / elapsed if elapsed else 0.0


def machine_wait_quiet(args: argparse.Namespace) -> float:
    """Wait (bounded) until other work leaves the CPUs mostly idle; return the last share.

    Anything else running on a 2-core box (a test suite, another benchmark) takes CPU from
    gunicorn and PostgreSQL and makes every number here meaningless.
    """
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy = cpu_busy_share()
        if busy <= args.quiet_threshold:
            return busy
        if time.monotonic() >= deadline:
            log(f"WARNING: CPUs {busy:.0%} busy before measuring; numbers will be low and noisy")
            return busy
        log(f"CPUs {busy:.0%} busy with other work; waiting for a quiet machine")
        time.sleep(5)


# A PostgreSQL client backend's title names its client: "… bench_pos 127.0.0.1(44032) idle".
_CLIENT_BACKEND = re.compile(r"\(\d+\)|\[local\]")


def _cpu_by_process(*, database: str, session_id: int | None) -> dict[int, tuple[str, int, str]]:
    """CPU ticks so far by pid, with the consumer each counts for: "app" (gunicorn's
    session), "postgres" (backends of ``database`` and the shared background processes:
    WAL writer, checkpointer, …), "kernel" (kernel threads: block I/O for fsync, …), "client"
    (this script and its children) and "other" (everything else); and a short command line."""
    processes = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # After "(comm)": state, ppid, pgrp, session, …, utime (14th field), stime (15th).
        session, used = int(fields[3]), int(fields[11]) + int(fields[12])
        if int(entry.name) == os.getpid() or int(fields[1]) == os.getpid():
            kind = "client"  # counted through getrusage, which also sees exited children
        elif session_id is not None and session == session_id:
            kind = "app"
        elif title.startswith("postgres: ") and (
            not _CLIENT_BACKEND.search(title) or f" {database} " in title
        ):
            kind = "postgres"
        elif not title:
            kind = "kernel"
        else:
            kind = "other"
        processes[int(entry.name)] = (kind, used, title[:60] or fields[0])
    return processes


def _machine_busy_ticks() -> int:
    """User and system time of all CPUs. Interrupt time is left out: it is not charged to
    any process, and here it is mostly the loopback traffic of the benchmark itself."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system = map(int, stat.readline().split()[1:4])
    return user + nice + system


class CpuMeter:
    """Where the machine's CPU went during a phase: the app (gunicorn), PostgreSQL, the
    client (the waited-for load driver or pgbench, and this script), kernel threads, and
    everything else.

    The machine is shared (test suites, other benchmarks): busy time not used by the
    benchmark is someone else's, taken from the numbers being measured. /proc is sampled
    twice a second so that processes ending within the phase (pgbench's backends) count.
    """

    SAMPLE_SECONDS = 0.5

    def __init__(self, *, database: str, session_id: int | None = None) -> None:
        self.database = database
        self.session_id = session_id
        self.ticks_per_second = os.sysconf("SC_CLK_TCK")
        self.started = time.monotonic()
        self.busy = _machine_busy_ticks()
        self.first = self._sample()
        self.last = dict(self.first)
        self.children = self._client_cpu()
        self.stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.sampler.start()

    def _sample(self) -> dict[int, tuple[str, int, str]]:
        return _cpu_by_process(database=self.database, session_id=self.session_id)

    def _sample_until_stopped(self) -> None:
        while not self.stop.wait(self.SAMPLE_SECONDS):
            with contextlib.suppress(OSError):
                self.last.update(self._sample())

    @staticmethod
    def _client_cpu() -> float:
        total = 0.0
        for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def usage(self) -> dict[str, Any]:
        """CPU seconds by consumer, ``busy_share`` and ``other_share`` (shares of all
        cores). Empty where /proc is unavailable."""
        self.stop.set()
        self.sampler.join()
        elapsed = time.monotonic() - self.started
        try:
            busy = (_machine_busy_ticks() - self.busy) / self.ticks_per_second
            self.last.update(self._sample())
        except OSError:
            return {}
        seconds = {"app": 0.0, "postgres": 0.0, "kernel": 0.0, "client": 0.0, "other": 0.0}
        others = []
        for pid, (kind, used, label) in self.last.items():
            before = self.first.get(pid, (kind, 0, label))[1]
            spent = max(0, used - before) / self.ticks_per_second
            seconds[kind] += spent
            if kind == "other" and spent >= 0.05:
                others.append((round(spent, 2), label))
        client = self._client_cpu() - self.children
        # Other work = busy time nobody here accounts for; processes that came and went
        # between two samples are in it too.
        other = max(0.0, busy - seconds["app"] - seconds["postgres"] - seconds["kernel"] - client)
        cores = os.cpu_count() or 1
        return {
            "top_other_processes": sorted(others, reverse=True)[:3],
            "app_cpu_s": round(seconds["app"], 2),
            "postgres_cpu_s": round(seconds["postgres"], 2),
            "client_cpu_s": round(client, 2),
            "kernel_cpu_s": round(seconds["kernel"], 2),
            "other_cpu_s": round(other, 2),
            "busy_share": round(busy / (elapsed * cores), 3) if elapsed else 0.0,
            "other_share": round(other / (elapsed * cores), 3) if elapsed else 0.0,
        }


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_seed(
    *, env: dict[str, str], members: int, cards_file: Path, args: argparse.Namespace
) -> str:
    """Migrate, create the store, terminal and members; return the terminal's API key."""
    python = venv_executable("python")
    log("migrating")
    run_checked([python, "manage.py", "migrate", "--noinput"], env=env, timeout=300)
    run_checked(
        [python, "manage.py", "create_store", STORE_CODE, "Benchmark store"], env=env, timeout=60
    )
    output = run_checked(
        [python, "manage.py", "create_terminal", "--store", STORE_CODE, "--name", "bench-1"],
        env=env,
        timeout=60,
    )
    api_key = output.strip().splitlines()[-1].strip()
    log(f"seeding {members} members")
    run_checked(
        [
            python,
            str(BENCH_DIR / "bench_django.py"),
            "seed-members",
            "--count",
            str(members),
            "--cards-file",
            str(cards_file),
            "--seed",
            str(args.seed),
            "--linked-share",
            str(args.linked_share),
        ],
        env=env,
        timeout=300,
    )
    return api_key


def queries_per_purchase(*, env: dict[str, str], api_key: str, cards_file: Path) -> dict[str, Any]:
    output = run_checked(
        [
            venv_executable("python"),
            str(BENCH_DIR / "bench_django.py"),
            "count-queries",
            "--api-key",
            api_key,
            "--cards-file",
            str(cards_file),
        ],
        env=env,
        timeout=120,
    )
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return report


@contextlib.contextmanager
def gunicorn_running(
    *, env: dict[str, str], port: int, args: argparse.Namespace, log_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        venv_executable("gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--backlog",
        "2048",
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log_file),
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    log(f"starting gunicorn: {args.workers} {args.worker_class} workers on port {port}")
    # Its own session: Ctrl-C reaches only this script, which then stops gunicorn in order.
    # The app's own log lines (stderr) land in the same file as gunicorn's.
    with log_file.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server_wait_ready(port, process, timeout=30)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def server_wait_ready(port: int, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} while starting")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/api/pos/v1/purchases")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout:.0f}s")


def drive(
    *,
    mode: str,
    count: int,
    port: int,
    api_key: str,
    cards_file: Path,
    run_tag: str,
    args: argparse.Namespace,
    gunicorn_session: int,
    request: str = "purchase",
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH_DIR / "load_driver.py"),
        "--url",
        f"http://127.0.0.1:{port}",
        "--api-key",
        api_key,
        "--cards-file",
        str(cards_file),
        "--member-share",
        str(args.member_share),
        "--mode",
        mode,
        "--count",
        str(count),
        "--concurrency",
        str(args.concurrency),
        "--rate",
        str(args.rate),
        "--open-threads",
        str(args.open_threads),
        "--run-tag",
        run_tag,
        "--seed",
        str(args.seed),
        "--max-seconds",
        str(args.max_seconds),
        "--request",
        request,
    ]
    meter = CpuMeter(database=args.db_name, session_id=gunicorn_session)
    output = run_checked(command, env=dict(os.environ), timeout=args.max_seconds + 120)
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    cpu = meter.usage()
    result["cpu"] = cpu
    result["other_cpu_share"] = cpu.get("other_share")
    if cpu and result["ok"]:
        result["cpu_ms_per_purchase"] = {
            name: round(cpu[f"{name}_cpu_s"] * 1000 / result["ok"], 2)
            for name in ("app", "postgres", "client")
        }
    return result


def purchases_measure(
    *, args: argparse.Namespace, pg_env: dict[str, str], work_dir: Path, stamp: str, round_: int
) -> dict[str, Any]:
    database_url = f"{args.server_url.rstrip('/')}/{args.db_name}"
    env = app_env(database_url, log_level=args.log_level)
    cards_file = work_dir / "cards.txt"
    tag = f"B{stamp}r{round_}"
    measured: dict[str, Any] = {}
    with fresh_database(args.db_name, pg_env=pg_env, keep=args.keep_db):
        api_key = database_seed(env=env, members=args.members, cards_file=cards_file, args=args)
        if args.count_queries:
            measured["queries_per_purchase"] = queries_per_purchase(
                env=env, api_key=api_key, cards_file=cards_file
            )
        port = free_loopback_port()
        log_file = Path(args.results_dir) / f"gunicorn-{stamp}-r{round_}.log"
        with gunicorn_running(env=env, port=port, args=args, log_file=log_file) as gunicorn:
            common = {
                "gunicorn_session": gunicorn.pid,
                "port": port,
                "api_key": api_key,
                "cards_file": cards_file,
                "args": args,
            }
            log(f"warm-up: {args.warmup} purchases")
            warmup = drive(mode="closed", count=args.warmup, run_tag=f"{tag}w", **common)
            if warmup["ok"] == 0:
                raise RuntimeError(f"warm-up: no purchase succeeded: {warmup['error_samples']}")
            measured["warmup"] = warmup
            open_count = int(args.rate * args.open_seconds)
            if open_count:
                checkpoint(args.db_name, pg_env)
                machine_wait_quiet(args)
                log(f"open loop: {open_count} purchases offered at {args.rate:g}/s")
                measured["open_loop"] = drive(
                    mode="open", count=open_count, run_tag=f"{tag}o", **common
                )
            checkpoint(args.db_name, pg_env)
            machine_wait_quiet(args)
            log(f"closed loop: {args.purchases} purchases at concurrency {args.concurrency}")
            measured["closed_loop"] = drive(
                mode="closed", count=args.purchases, run_tag=f"{tag}c", **common
            )
            if args.floor_requests:
                machine_wait_quiet(args)
                log(f"floor: {args.floor_requests} GET /terminal at concurrency {args.concurrency}")
                measured["floor"] = drive(
                    mode="closed",
                    count=args.floor_requests,
                    run_tag=f"{tag}f",
                    request="terminal",
                    **common,
                )
    return measured


_TPS = re.compile(r"^tps = ([\d.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)


def pgbench_measure(*, args: argparse.Namespace, pg_env: dict[str, str]) -> dict[str, Any]:
    scale = args.pgbench_scale or max(10, args.concurrency)
    jobs = min(2, args.concurrency)
    with fresh_database(args.pgbench_db, pg_env=pg_env, keep=False):
        log(f"pgbench -i -s {scale}")
        run_checked(
            ["pgbench", "-i", "-q", "-s", str(scale), args.pgbench_db], env=pg_env, timeout=600
        )
        checkpoint(args.pgbench_db, pg_env)
        command = [
            "pgbench",
            "-c",
            str(args.concurrency),
            "-j",
            str(jobs),
            "-T",
            str(args.pgbench_seconds),
            args.pgbench_db,
        ]
        machine_wait_quiet(args)
        log(" ".join(command))
        meter = CpuMeter(database=args.pgbench_db)
        output = run_checked(command, env=pg_env, timeout=args.pgbench_seconds + 120)
        cpu = meter.usage()
    tps = _TPS.search(output)
    latency = _LATENCY.search(output)
    if not tps:
        raise RuntimeError(f"could not read TPS from pgbench output:\n{output}")
    return {
        "command": " ".join(command),
        "scale": scale,
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "cpu": cpu,
        "other_cpu_share": cpu.get("other_share"),
    }


def verdict(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    closed = result.get("closed_loop")
    pgbench = result.get("pgbench")
    if closed and pgbench and "ratio" not in result:
        ratio = closed["ok_per_s"] / pgbench["tps"] if pgbench["tps"] else 0.0
        result["ratio"] = round(ratio, 3)
    floor = result.get("floor")
    if floor and pgbench and "floor_ratio" not in result:
        result["floor_ratio"] = (
            round(floor["ok_per_s"] / pgbench["tps"], 3) if pgbench["tps"] else 0.0
        )
    if "ratio" in result:
        checks["ratio"] = result["ratio"] >= RATIO_TARGET
    open_loop = result.get("open_loop")
    if open_loop:
        p99 = open_loop["latency"]["p99_ms"]
        checks["open_p99"] = p99 is not None and p99 <= P99_TARGET_MS
        checks["open_sustained"] = (open_loop["ok_per_s"] or 0) >= SUSTAINED_SHARE * args.rate
        checks["open_no_errors"] = open_loop["errors"] == 0 and open_loop["not_sent"] == 0
    if closed:
        checks["closed_no_errors"] = closed["errors"] == 0 and closed["not_sent"] == 0
    return checks


def noisy_phases(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Phases during which other work used more than ``--quiet-threshold`` of the CPUs."""
    return [
        phase
        for phase in ("open_loop", "closed_loop", "floor", "pgbench")
        if ((result.get(phase) or {}).get("other_cpu_share") or 0) > args.quiet_threshold
    ]


def other_cpu_note(phase: dict[str, Any]) -> str:
    share = phase.get("other_cpu_share")
    return "" if share is None else f"  [other CPU {share:.0%}]"


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def report_print(result: dict[str, Any], args: argparse.Namespace, title: str) -> None:
    lines = [f"== {title} =="]
    open_loop = result.get("open_loop")
    if open_loop:
        latency = open_loop["latency"]
        lines.append(
            f"open loop   offered {args.rate:g}/s  achieved {fmt(open_loop['ok_per_s'], '/s')}"
            f"  p50 {fmt(latency['p50_ms'])}  p95 {fmt(latency['p95_ms'])}"
            f"  p99 {fmt(latency['p99_ms'])}  max {fmt(latency['max_ms'])} ms"
            f"  errors {int(open_loop['errors'] + open_loop['not_sent'])}"
            f"{other_cpu_note(open_loop)}"
        )
    closed = result.get("closed_loop")
    if closed:
        latency = closed["latency"]
        lines.append(
            f"closed loop c={args.concurrency}  {fmt(closed['ok_per_s'], ' req/s')}"
            f"  p50 {fmt(latency['p50_ms'])}  p95 {fmt(latency['p95_ms'])}"
            f"  p99 {fmt(latency['p99_ms'])}  max {fmt(latency['max_ms'])} ms"
            f"  errors {int(closed['errors'] + closed['not_sent'])}"
            f"{other_cpu_note(closed)}"
        )
        per_purchase = closed.get("cpu_ms_per_purchase")
        if per_purchase and None not in per_purchase.values():
            lines.append(
                f"            CPU per purchase: app {per_purchase['app']:.1f} ms, PostgreSQL "
                f"{per_purchase['postgres']:.1f} ms, load driver {per_purchase['client']:.1f} ms"
            )
    floor = result.get("floor")
    if floor:
        latency = floor["latency"]
        per_request = floor.get("cpu_ms_per_purchase") or {}
        lines.append(
            f"floor       GET /terminal c={args.concurrency}  {fmt(floor['ok_per_s'], ' req/s')}"
            f"  p99 {fmt(latency['p99_ms'])} ms  app CPU {fmt(per_request.get('app'), ' ms')}/req"
            f"  errors {int(floor['errors'] + floor['not_sent'])}{other_cpu_note(floor)}"
        )
    pgbench = result.get("pgbench")
    if pgbench:
        lines.append(
            f"pgbench     c={args.concurrency} scale {pgbench['scale']}"
            f"  {fmt(pgbench['tps'], ' TPS')}"
            f"  latency avg {fmt(pgbench['latency_avg_ms'], ' ms')}"
            f"{other_cpu_note(pgbench)}"
        )
    if "ratio" in result:
        lines.append(f"ratio       purchase req/s ÷ pgbench TPS = {result['ratio']:.3f}")
    if result.get("floor_ratio") is not None:
        lines.append(
            f"            floor req/s ÷ pgbench TPS = {result['floor_ratio']:.3f}"
            " (no SQL at all: the most any request through Django reaches)"
        )
    queries = result.get("queries_per_purchase")
    if queries:
        lines.append(
            "SQL/purchase  member on LINE {} , member {} , non-member {}".format(
                queries.get("member_on_line", {}).get("queries"),
                queries.get("member", {}).get("queries"),
                queries.get("non_member", {}).get("queries"),
            )
        )
    labels = {
        "ratio": f"ratio ≥ {RATIO_TARGET}",
        "open_p99": f"open-loop p99 ≤ {P99_TARGET_MS:g} ms at {args.rate:g}/s offered",
        "open_sustained": f"open loop achieves ≥ {SUSTAINED_SHARE:.0%} of the offered rate",
        "open_no_errors": "open loop: every purchase answered 201",
        "closed_no_errors": "closed loop: every purchase answered 201",
    }
    for name, passed in result.get("checks", {}).items():
        lines.append(f"  [{'PASS' if passed else 'FAIL'}] {labels[name]}")
    noisy = noisy_phases(result, args)
    if noisy:
        lines.append(
            f"  [WARN] other processes used > {args.quiet_threshold:.0%} of the CPUs during "
            f"{', '.join(noisy)}: not representative, run again on a quiet machine"
        )
    for phase in ("open_loop", "closed_loop"):
        samples = (result.get(phase) or {}).get("error_samples")
        if samples:
            lines.append(f"  {phase} error samples: {samples[:3]}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def medians(rounds: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Median of each headline number, in the same shape as one round.

    Each phase's median is taken over the rounds in which that phase ran on a quiet
    machine (all rounds if none did); ``rounds_used`` says how many. The ratio uses the
    rounds where both the closed loop and pgbench were quiet.
    """

    def quiet(entry: dict[str, Any], phases: tuple[str, ...]) -> bool:
        return not set(phases) & set(noisy_phases(entry, args))

    def median_of(chosen: list[dict[str, Any]], path: tuple[str, ...]) -> Any:
        values = []
        for entry in chosen:
            value: Any = entry
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                values.append(value)
        return round(statistics.median(values), 3) if values else None

    def chosen_for(*phases: str) -> list[dict[str, Any]]:
        present = [entry for entry in rounds if all(phase in entry for phase in phases)]
        return [entry for entry in present if quiet(entry, phases)] or present

    summary: dict[str, Any] = {"rounds": len(rounds)}
    for phase in ("open_loop", "closed_loop", "floor"):
        chosen = chosen_for(phase)
        if not chosen:
            continue
        summary[phase] = {
            "rounds_used": len(chosen),
            "ok_per_s": median_of(chosen, (phase, "ok_per_s")),
            "errors": median_of(chosen, (phase, "errors")),
            "not_sent": median_of(chosen, (phase, "not_sent")),
            "other_cpu_share": median_of(chosen, (phase, "other_cpu_share")),
            "cpu_ms_per_purchase": {
                key: median_of(chosen, (phase, "cpu_ms_per_purchase", key))
                for key in ("app", "postgres", "client")
            },
            "latency": {
                key: median_of(chosen, (phase, "latency", key))
                for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
            },
        }
    chosen = chosen_for("pgbench")
    if chosen:
        summary["pgbench"] = {
            "rounds_used": len(chosen),
            "tps": median_of(chosen, ("pgbench", "tps")),
            "scale": chosen[0]["pgbench"]["scale"],
            "latency_avg_ms": median_of(chosen, ("pgbench", "latency_avg_ms")),
            "other_cpu_share": median_of(chosen, ("pgbench", "other_cpu_share")),
        }
    chosen = chosen_for("closed_loop", "pgbench")
    if chosen:
        summary["ratio"] = median_of(chosen, ("ratio",))
        summary["ratio_rounds_used"] = len(chosen)
    chosen = chosen_for("floor", "pgbench")
    if chosen:
        summary["floor_ratio"] = median_of(chosen, ("floor_ratio",))
    if "queries_per_purchase" in rounds[0]:
        summary["queries_per_purchase"] = rounds[0]["queries_per_purchase"]
    return summary


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    load = parser.add_argument_group("load")
    load.add_argument("--purchases", type=int, default=4000, help="closed-loop purchases (N)")
    load.add_argument("--concurrency", type=int, default=8, help="closed loop and pgbench (C)")
    load.add_argument("--rate", type=float, default=200.0, help="open-loop offered purchases/s")
    load.add_argument("--open-seconds", type=float, default=30.0, help="open-loop length; 0 skips")
    load.add_argument("--open-threads", type=int, default=64, help="open-loop client threads")
    load.add_argument("--warmup", type=int, default=300, help="unmeasured purchases first")
    load.add_argument(
        "--floor-requests", type=int, default=3000, help="GET /terminal requests; 0 skips"
    )
    load.add_argument("--members", type=int, default=1000)
    load.add_argument("--member-share", type=float, default=0.8, help="share with a card")
    load.add_argument(
        "--linked-share",
        type=float,
        default=0.5,
        help="share of members linked to LINE (their purchases queue a receipt message)",
    )
    load.add_argument("--max-seconds", type=float, default=180.0, help="time limit per phase")
    load.add_argument("--seed", type=int, default=1)
    server = parser.add_argument_group("server")
    server.add_argument("--workers", type=int, default=4, help="gunicorn workers (W)")
    server.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    server.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    server.add_argument("--log-level", default="WARNING", help="the app's LOG_LEVEL")
    database = parser.add_argument_group("database")
    database.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432")
    database.add_argument("--db-name", default="bench_pos")
    database.add_argument("--pgbench-db", default="bench_pgbench")
    database.add_argument("--pgbench-seconds", type=int, default=20)
    database.add_argument("--pgbench-scale", type=int, default=0, help="0 = max(10, concurrency)")
    database.add_argument("--keep-db", action="store_true", help="keep the purchase database")
    run = parser.add_argument_group("run")
    run.add_argument("--repeat", type=int, default=1, help="full rounds; medians printed")
    run.add_argument("--skip-purchases", action="store_true")
    run.add_argument("--skip-pgbench", action="store_true")
    run.add_argument(
        "--no-count-queries",
        dest="count_queries",
        action="store_false",
        help="skip counting SQL statements per purchase (count_queries=%(default)s)",
    )
    run.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="max share of all CPUs that other work may use before and during a phase",
    )
    run.add_argument(
        "--quiet-wait", type=float, default=300.0, help="seconds to wait for a quiet machine"
    )
    run.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    run.add_argument("--fail-on-miss", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    host = urllib.parse.urlsplit(args.server_url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("--server-url must point at a loopback PostgreSQL")
    if args.concurrency < 1 or args.purchases < 1 or args.rate <= 0 or args.repeat < 1:
        parser.error("--concurrency, --purchases, --rate and --repeat must be positive")
    return args


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # Explicitly: a shell starting this in the background may have set SIGINT to ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGHUP, _stop_on_sigterm)
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    # Two runs would drop each other's databases and share two cores: one at a time.
    lock = (Path(args.results_dir) / ".bench_purchases.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another bench_purchases.py run is in progress; try again when it has finished")
        return 2
    pg_env = postgres_env(args.server_url)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    rounds: list[dict[str, Any]] = []
    config = {
        key: value
        for key, value in vars(args).items()
        if key not in {"results_dir", "fail_on_miss"}
    }
    config["cpu_count"] = os.cpu_count()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pos-") as work:
            for round_ in range(1, args.repeat + 1):
                result: dict[str, Any] = {}
                if not args.skip_purchases:
                    result.update(
                        purchases_measure(
                            args=args,
                            pg_env=pg_env,
                            work_dir=Path(work),
                            stamp=stamp,
                            round_=round_,
                        )
                    )
                if not args.skip_pgbench:
                    result["pgbench"] = pgbench_measure(args=args, pg_env=pg_env)
                result["checks"] = verdict(result, args)
                rounds.append(result)
                report_print(result, args, f"round {round_}/{args.repeat}")
    except KeyboardInterrupt:
        log("interrupted; databases dropped and gunicorn stopped")
        return 130
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        log(f"failed: {exc}")
        return 2
    summary = medians(rounds, args) if len(rounds) > 1 else dict(rounds[0])
    summary["checks"] = verdict(summary, args)
    if len(rounds) > 1:
        used = {
            phase: summary[phase]["rounds_used"]
            for phase in ("open_loop", "closed_loop", "floor", "pgbench")
            if phase in summary
        }
        title = f"median of {len(rounds)} rounds; quiet rounds used: " + ", ".join(
            f"{phase} {count}" for phase, count in used.items()
        )
        report_print(summary, args, title)
    path = Path(args.results_dir) / f"purchases-{stamp}.json"
    path.write_text(
        json.dumps({"config": config, "median": summary, "rounds": rounds}, indent=2) + "\n",
        encoding="utf-8",
    )
    log(f"results written to {path}")
    missed = not all(summary["checks"].values())
    return 1 if args.fail_on_miss and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
