#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL and Redis.

Usage: python scripts/test_services.py -- pytest -q ...

Both servers run as child processes on free ports on 127.0.0.1, with their data in a temporary
directory. The command gets DATABASE_URL and REDIS_URL in its environment. Afterwards (also on
failure, SIGINT or SIGTERM) both servers are stopped and the temporary directory is removed.

The exit status is the command's exit status, 128 + N if the script was stopped by signal N,
or 125 if a service could not be started.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "test_services"
EXIT_SERVICE_FAILED = 125
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
PG_USER = "handoff"
PG_DB = "handoff"
PG_TOOLS = ("initdb", "postgres", "createdb", "pg_isready")


class ServiceError(Exception):
    """A service could not be found, installed or started."""


class Interrupted(BaseException):
    """Raised by the signal handler when the script receives SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def log(message: str) -> None:
    """Print a message prefixed with the script name to stderr."""
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def version_key(name: str) -> tuple[int, ...]:
    """Sort key for version-like directory names such as '15' or '9.6'."""
    return tuple(int(part) for part in re.findall(r"\d+", name))


def find_pg_bindir() -> Path | None:
    """Return the bin directory of the newest PostgreSQL server install, if any."""
    bindirs = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: version_key(path.parent.name),
        reverse=True,
    )
    for bindir in bindirs:
        if all((bindir / tool).is_file() for tool in PG_TOOLS):
            return bindir
    found = [shutil.which(tool) for tool in PG_TOOLS]
    if all(found):
        return Path(str(found[0])).parent
    return None


def pg_tool(bindir: Path, name: str) -> str:
    """Path of a PostgreSQL program, preferring the server's bin directory over PATH."""
    path = bindir / name
    return str(path) if path.is_file() else (shutil.which(name) or name)


def find_redis() -> Path | None:
    """Return the path of redis-server on PATH or in /usr/bin, if any."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
    return Path(found) if found else None


def find_chromium() -> Path | None:
    """Return Debian's chromium, which the browser tests drive (never a downloaded browser)."""
    found = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    return Path(found) if found else None


def apt_install(packages: list[str]) -> None:
    """Install Debian packages with apt-get (root only); raise ServiceError if impossible."""
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise ServiceError(f"missing server binaries; please install: {' '.join(packages)}")
    log(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # apt's chatter goes to stderr so the command's stdout stays clean.
    subprocess.run([apt, "update"], env=env, stdout=sys.stderr, check=False)
    install = [apt, "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, stdout=sys.stderr, check=False).returncode != 0:
        raise ServiceError(f"apt-get install {' '.join(packages)} failed")


def find_binaries() -> tuple[Path, Path]:
    """Locate (PostgreSQL bin dir, redis-server), installing missing packages if possible;
    Debian's chromium, which the browser tests drive, is installed alongside."""
    bindir, redis = find_pg_bindir(), find_redis()
    missing = [
        package
        for package, found in (
            ("postgresql", bindir),
            ("redis-server", redis),
            ("chromium", find_chromium()),
        )
        if found is None
    ]
    if missing:
        apt_install(missing)
        bindir, redis = find_pg_bindir(), find_redis()
    if bindir is None:
        raise ServiceError("PostgreSQL server binaries not found; please install: postgresql")
    if redis is None:
        raise ServiceError("redis-server not found; please install: redis-server")
    return bindir, redis


def program_version(program: str) -> str:
    """Return the first version number printed by `program --version`."""
    result = run_tool([program, "--version"])
    match = re.search(r"\d+(?:\.\d+)*", result.stdout)
    return match.group() if match else "?"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_user_kwargs() -> dict[str, Any]:
    """subprocess arguments to drop root privileges to 'postgres' (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("running as root but there is no 'postgres' user") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def log_tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, indented, for error messages."""
    with contextlib.suppress(OSError):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"    {line}" for line in tail)
    return "    (no log)"


def run_tool(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a short-lived helper, capturing its output, in its own process group.

    If we are interrupted meanwhile, the whole group is killed and waited for, so that no
    grandchild (such as initdb's bootstrap backend) keeps writing into the temporary directory.
    """
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group led by `proc` and wait (a few seconds at most) until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(proc.pid, 0)  # raises ProcessLookupError once no member is left
            time.sleep(0.05)


def remove_tree(path: Path) -> None:
    """Delete a directory tree, retrying briefly; warn if that does not succeed."""
    for _ in range(10):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.2)
    log(f"warning: could not remove {path}")


def start_process(cmd: list[str], log_path: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a server in its own session (out of reach of a terminal Ctrl-C), logging to a file."""
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )


def stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send `sig` to a server and wait for it; SIGKILL its whole process group on timeout."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log(f"pid {proc.pid} did not stop after {sig.name}; killing it")
        kill_group(proc)  # the server leads its own process group, with PostgreSQL's backends


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], name: str, log_path: Path
) -> None:
    """Poll `ready()` until it returns True; raise ServiceError if the server dies or times out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():
        if proc.poll() is not None:
            raise ServiceError(
                f"{name} exited with status {proc.returncode}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{name} did not start in {STARTUP_TIMEOUT:.0f}s:\n{log_tail(log_path)}"
            )
        time.sleep(0.1)


def init_postgres(bindir: Path, tmp: Path) -> Path:
    """Create a PostgreSQL cluster with a trusted superuser PG_USER; return its data dir."""
    data = tmp / "data"
    base = [pg_tool(bindir, "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"]
    for locale in ("--locale=C.UTF-8", "--no-locale"):
        result = run_tool([*base, locale], cwd=tmp, **pg_user_kwargs())
        if result.returncode == 0:
            return data
        remove_tree(data)
    raise ServiceError(f"initdb failed:\n{result.stdout}{result.stderr}")


def start_postgres(bindir: Path, tmp: Path, stack: contextlib.ExitStack) -> int:
    """Start PostgreSQL, create database PG_DB, register its shutdown; return its port."""
    init_postgres(bindir, tmp)
    sockdir = tmp / "sock"
    sockdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(sockdir, "postgres", "postgres")
    port = free_port()
    proc = launch_postgres(bindir, tmp, port)
    stack.callback(stop_process, proc, signal.SIGINT)  # SIGINT = fast shutdown
    client = ["-h", "127.0.0.1", "-p", str(port), "-U", PG_USER]
    createdb = [pg_tool(bindir, "createdb"), *client, PG_DB]
    result = run_tool(createdb)
    if result.returncode != 0:
        raise ServiceError(f"createdb failed: {result.stderr.strip()}")
    return port


def launch_postgres(bindir: Path, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """Start PostgreSQL on the cluster ``init_postgres`` made in ``tmp`` (again, after a
    stop: the fault tests restart it) and wait until it accepts connections."""
    data, sockdir, log_path = tmp / "data", tmp / "sock", tmp / "postgres.log"
    # fsync and friends off: the data is thrown away anyway, so trade durability for speed.
    settings = ["listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off"]
    settings += ["full_page_writes=off", "max_connections=200"]
    cmd = [pg_tool(bindir, "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockdir)]
    cmd += [arg for setting in settings for arg in ("-c", setting)]
    proc = start_process(cmd, log_path, cwd=tmp, **pg_user_kwargs())
    client = ["-h", "127.0.0.1", "-p", str(port), "-U", PG_USER]
    isready = [pg_tool(bindir, "pg_isready"), *client, "-d", "postgres", "-q"]

    def ready() -> bool:
        return port_open(port) and run_tool(isready).returncode == 0

    try:
        wait_until(ready, proc, "PostgreSQL", log_path)
    except BaseException:
        stop_process(proc, signal.SIGINT)
        raise
    return proc


def redis_ping(port: int) -> bool:
    """True if a Redis server on 127.0.0.1:port answers PING with +PONG."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=1) as s,
    ):
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")
    return False


def start_redis(redis: Path, tmp: Path, stack: contextlib.ExitStack) -> int:
    """Start a Redis server without persistence, register its shutdown; return its port."""
    port = free_port()
    proc = launch_redis(redis, tmp, port)
    stack.callback(stop_process, proc, signal.SIGTERM)
    return port


def launch_redis(
    redis: Path, tmp: Path, port: int, *, persistent: bool = False
) -> subprocess.Popen[bytes]:
    """Start a Redis server on ``port`` with its files in ``tmp`` and wait until it answers.
    ``persistent`` keeps the data across a restart (an append-only file), as a production
    Redis does."""
    log_path = tmp / "redis.log"
    cmd = [str(redis), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    cmd += ["--appendonly", "yes" if persistent else "no", "--daemonize", "no"]
    cmd += ["--dir", str(tmp)]
    proc = start_process(cmd, log_path, cwd=tmp)
    try:
        wait_until(lambda: redis_ping(port), proc, "Redis", log_path)
    except BaseException:
        stop_process(proc, signal.SIGTERM)
        raise
    return proc


def run_command(command: list[str], env: dict[str, str]) -> int:
    """Run the command to completion; on SIGINT/SIGTERM stop it and re-raise Interrupted."""
    try:
        proc = subprocess.Popen(command, env=env)
    except OSError as exc:
        log(f"cannot run {command[0]!r}: {exc}")
        return 127
    try:
        return proc.wait()
    except Interrupted:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def on_signal(signum: int, _frame: object) -> None:
    """Signal handler: turn SIGINT/SIGTERM into an Interrupted exception."""
    raise Interrupted(signum)


def ignore_signals() -> None:
    """Ignore further SIGINT/SIGTERM so that cleanup is not interrupted half-way."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    """Start the services, run the command after '--', stop the services; return exit status."""
    args = sys.argv[1:] if argv is None else argv
    command = args[1:] if args[:1] == ["--"] else args
    if not command or command[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        bindir, redis = find_binaries()
        with contextlib.ExitStack() as stack:
            tmp = Path(tempfile.mkdtemp(prefix="handoff-test-services-"))
            stack.callback(remove_tree, tmp)
            if os.geteuid() == 0:  # the postgres user must be able to enter the directory
                shutil.chown(tmp, "postgres", "postgres")
            stack.callback(ignore_signals)  # runs first on exit: before the servers are stopped
            pg_port = start_postgres(bindir, tmp, stack)
            redis_port = start_redis(redis, tmp, stack)
            env = {
                **os.environ,
                "DATABASE_URL": f"postgres://{PG_USER}@127.0.0.1:{pg_port}/{PG_DB}",
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            }
            pg_version = program_version(pg_tool(bindir, "postgres"))
            log(
                f"PostgreSQL {pg_version} on 127.0.0.1:{pg_port}, "
                f"Redis {program_version(str(redis))} on 127.0.0.1:{redis_port}"
            )
            return run_command(command, env)
    except ServiceError as exc:
        log(f"error: {exc}")
        return EXIT_SERVICE_FAILED
    except Interrupted as exc:
        log(f"stopped by {signal.Signals(exc.signum).name}")
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
