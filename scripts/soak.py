#!/usr/bin/env python3
"""Soak of `--rm` replacements and `kill -9` crash-consistency trials against the real daemon.

    python3 scripts/soak.py [--replacements 1000] [--round 100] [--soak-modes apply,run]
                            [--trials 20] [--kill-modes apply,run] [--moor target/release/moor]

Soak: one service with `autoRemove: true` (a `docker run --rm` container) and a healthcheck, so
that every replacement is health-gated and every stop of the old container makes Docker delete it
while moor goes on to remove it (the 409 "removal already in progress" / 404 races of
docs/architecture.md section 4). Each replacement changes the env value `VALUE` in the manifest:
- mode `apply`: `moor apply DIR`; the replacement time is the apply's wall time, and a failure is
  a non-zero exit, or afterwards anything but exactly one container, running, healthy, under the
  service's name, with the new value (a duplicate, a `-moor-next` leftover, a missing one);
- mode `run`: one `moor run DIR` for the whole mode, the manifest rewritten (atomically) for each
  replacement; the time runs from the write until the state above is observed (Docker API polled
  every 10 ms), and a failure is not reaching it within `--timeout` seconds.
Per round: failures, p50/p99/max of the replacement time, and Docker's 409 and 404 answers to
moor's removals as moor's debug log shows them (`remove: 409 removal already in progress`,
`remove: 404, already absent`), plus replacements moor reported as failed (rolled back).

kill -9 trials: `--kill-services` services (half of them `autoRemove: true`, one with 2 replicas,
one start-first, all health-gated) are changed together (every container replaced); moor (`moor
apply`, or a `moor run` started on the converged state when the manifests are rewritten) is
killed with SIGKILL after a random delay within the change's typical duration (calibrated first,
without a kill); then `moor apply` runs again. A trial has recovered when that apply exits 0,
every service runs exactly its replicas under their names with the new value, healthy, with no
other container of the instance (no `-moor-next`, no duplicate), `moor plan` exits 0, and the two
foreign containers (one without moor's labels, one labelled for another instance) are the same
containers, running, never restarted.

Why Python (stdlib only) and not a Rust example next to examples/bench.rs: the soak drives the
moor binary as a user does (a process per apply, SIGKILL, files rewritten under `moor run`), so
nothing in it needs moor's crates; a script needs no build (the machine compiles for others too),
and observing Docker is a few GETs on its unix socket (http.client), which poll faster than the
docker CLI. The docker CLI is used for the image build, the foreign containers and the cleanup.

Everything carries a unique `--instance` (and name prefix); on exit, also after a failure, Ctrl-C
or SIGTERM, the moor processes it started are killed and every container labelled with the
instance (or the foreign ones' names) is removed. Needs a Docker Engine on a local unix socket
(DOCKER_HOST=unix://... or /var/run/docker.sock), the test image moor-test/busybox:1 (built here
`FROM scratch` with /bin/busybox, as tests/common/mod.rs does, when missing) and a release moor.
Logs of failed replacements and trials go to --logs (default target/soak/INSTANCE/).
"""
import argparse
import http.client
import json
import math
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request

IMAGE = "moor-test/busybox:1"
SLEEPER = "trap 'exit 0' TERM; sleep 1000000 & wait"
# As tests/common/mod.rs::image() builds it.
DOCKERFILE = (
    "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
    "RUN [\"/bin/touch\", \"/ok\"]\nLABEL moor.test.variant=\"base\"\n"
)
DEBUG_LOG = {"MOOR_LOG": "moor=debug,warn"}
RACE_409 = "remove: 409 removal already in progress"
RACE_404 = "remove: 404, already absent"
ROLLED_BACK = "rolling back"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Docker: GETs on the unix socket; the CLI for the rest.


def docker_socket():
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "/var/run/docker.sock"
    if host.startswith("unix://"):
        return host[len("unix://"):]
    sys.exit(f"soak.py needs a local unix socket; DOCKER_HOST is {host}")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


SOCK = None


def docker_get(path):
    conn = UnixHTTPConnection(SOCK)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return r.status, (json.loads(body) if body and r.status == 200 else None)
    finally:
        conn.close()


def containers(instance):
    """Containers labelled moor.instance=INSTANCE: a list of dicts (id, name, state, env, health,
    service, started)."""
    filters = urllib.parse.quote(json.dumps({"label": [f"moor.instance={instance}"]}))
    status, listed = docker_get(f"/containers/json?all=1&filters={filters}")
    if status != 200:
        raise RuntimeError(f"docker list: {status}")
    out = []
    for c in listed:
        status, info = docker_get(f"/containers/{c['Id']}/json")
        if status == 404:
            continue  # removed between the list and the inspect
        if status != 200:
            raise RuntimeError(f"docker inspect {c['Id']}: {status}")
        health = (info["State"].get("Health") or {}).get("Status")
        out.append(
            {
                "id": c["Id"],
                "name": info["Name"].lstrip("/"),
                "state": info["State"]["Status"],
                "running": info["State"]["Running"],
                "env": info["Config"].get("Env") or [],
                "health": health,
                "service": (c.get("Labels") or {}).get("moor.service"),
                "started": info["State"].get("StartedAt"),
            }
        )
    return out


def inspect(name):
    status, info = docker_get(f"/containers/{urllib.parse.quote(name)}/json")
    return info if status == 200 else None


def cli(*args, check=True):
    out = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def ensure_image():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return
    log(f"building {IMAGE} FROM scratch with /bin/busybox")
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy("/bin/busybox", os.path.join(ctx, "busybox"))
        os.chmod(os.path.join(ctx, "busybox"), 0o755)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE)
        cli("build", "-q", "-t", IMAGE, ctx)


def daemon_info():
    info = json.loads(cli("info", "--format", "{{json .}}"))
    return info


# ---------------------------------------------------------------------------------------------
# Manifests and the desired state.


def manifest(name, value, health_interval, auto_remove=True, replicas=1, start_first=False):
    lines = [
        "apiVersion: moor/v1",
        "kind: Service",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  image: {IMAGE}",
        "  pull: never",
        f"  command: [\"sh\", \"-c\", \"{SLEEPER}\"]",
        "  stopTimeout: 5s",
        f"  autoRemove: {'true' if auto_remove else 'false'}",
        f"  healthcheck: {{ test: [\"CMD\", \"test\", \"-f\", \"/ok\"], interval: {health_interval}, retries: 1 }}",
        f"  env: {{ VALUE: \"{value}\" }}",
    ]
    if replicas != 1:
        lines.append(f"  replicas: {replicas}")
    if start_first:
        lines.append("  update: { strategy: start-first }")
    return "\n".join(lines) + "\n"


def write_atomically(folder, file, text):
    # A dotfile is skipped by moor's loader, and the rename is what the folder watch sees.
    tmp = os.path.join(folder, f".{file}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(folder, file))


def expected_names(name, replicas):
    return [name] if replicas == 1 else [f"{name}-{i}" for i in range(1, replicas + 1)]


def anomalies(observed, desired, health=True):
    """What differs from `desired` (service -> (replicas, value)): a list of strings, empty when
    every service runs exactly its replicas (healthy, unless `health` is false: a container
    moor created or started rather than replaced is not waited for), with the value, and nothing
    else exists."""
    wanted = {}
    for service, (replicas, value) in desired.items():
        for n in expected_names(service, replicas):
            wanted[n] = value
    found = {}
    problems = []
    for c in observed:
        if c["name"] in wanted and c["name"] not in found:
            found[c["name"]] = c
        else:
            problems.append(f"extra {c['name']} ({c['state']}, {value_of(c)})")
    for n, value in wanted.items():
        c = found.get(n)
        if c is None:
            problems.append(f"missing {n}")
            continue
        if not c["running"]:
            problems.append(f"{n} is {c['state']}")
        if value_of(c) != value:
            problems.append(f"{n} has VALUE={value_of(c)}, not {value}")
        if health and c["health"] != "healthy":
            problems.append(f"{n} health {c['health']}")
    return problems


def value_of(c):
    for e in c["env"]:
        if e.startswith("VALUE="):
            return e[len("VALUE="):]
    return None


# ---------------------------------------------------------------------------------------------
# Processes.


class Session:
    """The instance, the temporary folder, the moor processes started: cleaned up on exit."""

    def __init__(self, args):
        self.args = args
        token = f"{os.getpid() % 100000:05d}{random.Random().randrange(16**3):03x}"
        self.prefix = f"soak{token}"
        self.instance = f"soak-{token}"
        self.other_instance = f"{self.instance}-other"
        self.root = tempfile.mkdtemp(prefix="moor-soak-")
        self.logs = args.logs or os.path.join("target", "soak", self.instance)
        os.makedirs(self.logs, exist_ok=True)
        self.children = []
        self.breakdowns = {}

    def moor(self, *args):
        return [self.args.moor, *args, "--instance", self.instance]

    def run_moor(self, *args, timeout=None):
        start = time.perf_counter()
        try:
            out = subprocess.run(
                self.moor(*args), capture_output=True, text=True, timeout=timeout or self.args.timeout,
                env={**os.environ, **DEBUG_LOG},
            )
            code, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired as e:
            code = "timeout"
            stdout = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            stderr = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return code, (time.perf_counter() - start) * 1000, stdout, stderr

    def spawn(self, args, log_path):
        f = open(log_path, "a")
        p = subprocess.Popen(
            self.moor(*args), stdout=subprocess.DEVNULL, stderr=f, env={**os.environ, **DEBUG_LOG},
            start_new_session=True,
        )
        f.close()
        self.children.append(p)
        return p

    def kill(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()
        if p in self.children:
            self.children.remove(p)

    def save(self, file, text):
        path = os.path.join(self.logs, file)
        with open(path, "w") as f:
            f.write(text)
        return path

    def cleanup(self):
        for p in list(self.children):
            self.kill(p)
        ids = set()
        for instance in (self.instance, self.other_instance):
            ids |= set(cli("ps", "-aq", "--filter", f"label=moor.instance={instance}", check=False).split())
        ids |= set(cli("ps", "-aq", "--filter", f"name={self.prefix}", check=False).split())
        ids = sorted(ids)
        # A few at a time: Docker 20.10's libnetwork can deadlock on many parallel removals.
        for i in range(0, len(ids), 4):
            cli("rm", "-f", *ids[i:i + 4], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        left = cli("ps", "-aq", "--filter", f"label=moor.instance={self.instance}", check=False).split()
        if left:
            log(f"cleanup: {len(left)} containers of {self.instance} are still there")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def metrics(port, prefix):
    """Sum of the series of `prefix` in /metrics, by label set."""
    _, text = http(port, "/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def wait_ready(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moor run exited with {proc.returncode}")
        if http(port, "/readyz")[0] == 200:
            return
        time.sleep(0.02)
    raise RuntimeError("moor run: /readyz not 200 within 30 s")


def wait_converged(instance, desired, timeout):
    """Polls until `anomalies` is empty: the elapsed ms, or None and the last anomalies."""
    start = time.perf_counter()
    last = []
    while time.perf_counter() - start < timeout:
        try:
            last = anomalies(containers(instance), desired)
        except (RuntimeError, OSError) as e:
            last = [f"observe: {e}"]
        if not last:
            return (time.perf_counter() - start) * 1000, []
        time.sleep(0.01)
    return None, last


def percentile(values, p):
    """Nearest rank: p99 of 100 values is the 99th smallest."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


# ---------------------------------------------------------------------------------------------
# The soak.


def soak(session, mode, rounds):
    """Fills `rounds` (one dict per round) as they finish."""
    args = session.args
    folder = os.path.join(session.root, f"soak-{mode}")
    os.makedirs(folder)
    name = f"{session.prefix}-{mode}"
    interval = args.health_interval
    desired = {name: (1, "v0000")}
    write_atomically(folder, "svc.yaml", manifest(name, "v0000", interval))
    code, _, out, err = session.run_moor("apply", folder)
    if code != 0 or wait_converged(session.instance, desired, 30)[0] is None:
        session.save(f"soak-{mode}-initial.log", out + err)
        raise RuntimeError(f"soak {mode}: the initial apply failed ({code})")

    proc = port = None
    run_log = os.path.join(session.logs, f"soak-{mode}-moor-run.log")
    if mode == "run":
        port = free_port()
        proc = session.spawn(["run", folder, "--interval", "60s", "--listen", f"127.0.0.1:{port}"], run_log)
        wait_ready(port, proc)

    n = 0
    total_rounds = math.ceil(args.replacements / args.round)
    for r in range(total_rounds):
        size = min(args.round, args.replacements - n)
        times, failures, races409, races404, rollbacks, notes = [], 0, 0, 0, 0, []
        log_offset = os.path.getsize(run_log) if proc else 0
        errors_before = metrics(port, "moor_docker_errors_total") if proc else {}
        failed_before = metrics(port, "moor_replacements_failed_total") if proc else {}
        started = time.perf_counter()
        for _ in range(size):
            n += 1
            value = f"v{n:04d}"
            desired = {name: (1, value)}
            if mode == "apply":
                write_atomically(folder, "svc.yaml", manifest(name, value, interval))
                code, ms, out, err = session.run_moor("apply", folder)
                races409 += err.count(RACE_409)
                races404 += err.count(RACE_404)
                rollbacks += err.count(ROLLED_BACK)
                problems = [] if code == 0 else [f"exit {code}"]
                try:
                    problems += anomalies(containers(session.instance), desired)
                except (RuntimeError, OSError) as e:
                    problems.append(f"observe: {e}")
                if problems:
                    failures += 1
                    path = session.save(f"soak-apply-{value}.log", f"exit {code}\n{problems}\n--- stdout\n{out}\n--- stderr\n{err}")
                    notes.append(f"{value}: {'; '.join(problems)} ({path})")
                    log(f"  {value}: FAILED: {'; '.join(problems)}")
                    # Start the next replacement from a converged state.
                    session.run_moor("apply", folder)
                else:
                    times.append(ms)
            else:
                write_atomically(folder, "svc.yaml", manifest(name, value, interval))
                ms, problems = wait_converged(session.instance, desired, args.timeout)
                if proc.poll() is not None:
                    problems = problems + [f"moor run exited with {proc.returncode}"]
                if ms is None:
                    failures += 1
                    notes.append(f"{value}: not converged within {args.timeout} s: {'; '.join(problems)}")
                    log(f"  {value}: FAILED: {'; '.join(problems)}")
                    if proc.poll() is not None:
                        raise RuntimeError("moor run exited during the soak")
                else:
                    times.append(ms)
        if proc:
            with open(run_log, errors="replace") as f:
                f.seek(log_offset)
                segment = f.read()
            races409 = segment.count(RACE_409)
            races404 = segment.count(RACE_404)
            rollbacks = segment.count(ROLLED_BACK)
            errors_after = metrics(port, "moor_docker_errors_total")
            failed_after = metrics(port, "moor_replacements_failed_total")
            for key in sorted(set(errors_after) | set(failed_after)):
                before = errors_before.get(key, failed_before.get(key, 0))
                after = errors_after.get(key, failed_after.get(key, 0))
                if after != before:
                    notes.append(f"{key} +{after - before:g}")
        row = {
            "round": r + 1,
            "replacements": size,
            "failures": failures,
            "p50": percentile(times, 50),
            "p99": percentile(times, 99),
            "max": max(times) if times else float("nan"),
            "times": times,
            "409": races409,
            "404": races404,
            "rolled_back": rollbacks,
            "wall_s": time.perf_counter() - started,
            "notes": notes,
        }
        rounds.append(row)
        log(
            f"soak {mode} round {r + 1}/{total_rounds}: {size - failures}/{size} ok, p50 {row['p50']:.0f} ms, "
            f"p99 {row['p99']:.0f} ms, 409 {races409}, 404 {races404}, rolled back {rollbacks}, {row['wall_s']:.0f} s"
            + (f"; {'; '.join(notes)}" if notes else "")
        )
    if proc:
        session.kill(proc)
        session.breakdowns[mode] = breakdown(run_log)


def breakdown(run_log):
    """Where a replacement under `moor run` goes, from its debug log's timestamps: medians (ms)
    of folder event -> replace begins (moor), -> new container started (Docker: create, stop,
    start), -> healthy (the healthcheck interval), -> converged (moor: the 50 ms readiness poll,
    the remove answered 404 or 409, the rename); and how many replacements it saw."""
    import datetime

    def at(line):
        return datetime.datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f")

    rows, marks = [], {}
    with open(run_log, errors="replace") as f:
        for line in f:
            if "manifest folder changed" in line:
                marks = {"event": at(line)}
            elif "moor::apply::replace: replacing" in line and "event" in marks:
                marks["replace"] = at(line)
            elif "action=start container=" in line and "-moor-next" in line and "replace" in marks:
                marks["start"] = at(line)
            elif "health_status: healthy" in line and "start" in marks:
                marks["healthy"] = at(line)
            elif "moor::apply: converged" in line and "healthy" in marks:
                order = ["event", "replace", "start", "healthy"]
                stamps = [marks[k] for k in order] + [at(line)]
                rows.append([(b - a).total_seconds() * 1000 for a, b in zip(stamps, stamps[1:])])
                marks = {}
    if not rows:
        return None
    return {"replacements": len(rows), "medians_ms": [statistics.median(r[k] for r in rows) for k in range(4)]}


# ---------------------------------------------------------------------------------------------
# kill -9 trials.


def kill_services(session):
    """name -> (replicas, autoRemove, start_first) of the trial services."""
    out = {}
    for i in range(session.args.kill_services):
        out[f"{session.prefix}-k{i}"] = (2 if i == 1 else 1, i % 2 == 0, i == 3)
    return out


def write_kill_set(folder, services, value, interval):
    for name, (replicas, auto_remove, start_first) in services.items():
        write_atomically(folder, f"{name}.yaml", manifest(name, value, interval, auto_remove, replicas, start_first))


def foreign_containers(session):
    """One container without moor's labels and one labelled for another instance, named like
    the trial services' containers would be if they were moor's: name -> (id, StartedAt)."""
    made = {}
    plain = f"{session.prefix}-foreign"
    cli("run", "-d", "--name", plain, IMAGE, "sh", "-c", SLEEPER)
    other = f"{session.prefix}-other"
    cli(
        "run", "-d", "--name", other, "--label", f"moor.instance={session.other_instance}",
        "--label", f"moor.service={session.prefix}-k0", "--label", "moor.replica=1", IMAGE, "sh", "-c", SLEEPER,
    )
    for name in (plain, other):
        info = inspect(name)
        made[name] = (info["Id"], info["State"]["StartedAt"])
    return made


def foreign_touched(made):
    problems = []
    for name, (cid, started) in made.items():
        info = inspect(name)
        if info is None:
            problems.append(f"foreign {name} is gone")
        elif info["Id"] != cid:
            problems.append(f"foreign {name} is another container")
        elif not info["State"]["Running"] or info["State"]["StartedAt"] != started:
            problems.append(f"foreign {name} was stopped or restarted")
    return problems


def what_the_kill_left(observed, desired):
    left = []
    nexts = [c["name"] for c in observed if c["name"].endswith("-moor-next")]
    if nexts:
        left.append(f"{len(nexts)} -moor-next")
    stopped = [c for c in observed if not c["running"]]
    if stopped:
        left.append(f"{len(stopped)} not running")
    wanted = {n for s, (rep, _) in desired.items() for n in expected_names(s, rep)}
    names = {c["name"] for c in observed}
    missing = wanted - names
    if missing:
        left.append(f"{len(missing)} names missing")
    old = [c for c in observed if value_of(c) != next(iter(desired.values()))[1]]
    if old:
        left.append(f"{len(old)} old")
    return left


def kill_trials(session, mode, made, result):
    """Fills `result` (window_ms, services, trials) as trials finish."""
    args = session.args
    folder = os.path.join(session.root, f"kill-{mode}")
    os.makedirs(folder)
    services = kill_services(session)
    interval = args.health_interval
    rng = random.Random(args.seed + (0 if mode == "apply" else 1))

    def desired_of(value):
        return {name: (replicas, value) for name, (replicas, _, _) in services.items()}

    counter = [0]

    def next_value():
        counter[0] += 1
        return f"{mode[0]}{counter[0]:03d}"

    # Converge, then time two changes without a kill: the kill lands within the longer one.
    value = next_value()
    write_kill_set(folder, services, value, interval)
    code, _, out, err = session.run_moor("apply", folder)
    if code != 0 or wait_converged(session.instance, desired_of(value), 30)[0] is None:
        session.save(f"kill-{mode}-initial.log", out + err)
        raise RuntimeError(f"kill trials ({mode}): the initial apply failed")
    durations = []
    for _ in range(2):
        value = next_value()
        if mode == "apply":
            write_kill_set(folder, services, value, interval)
            code, ms, out, err = session.run_moor("apply", folder)
            if code != 0:
                session.save(f"kill-{mode}-calibration.log", out + err)
                raise RuntimeError(f"kill trials ({mode}): a calibration apply failed")
        else:
            # moor run started on the converged state, then the change written: as the trials do.
            port = free_port()
            run_log = os.path.join(session.logs, f"kill-{mode}-calibration.log")
            p = session.spawn(["run", folder, "--interval", "60s", "--listen", f"127.0.0.1:{port}"], run_log)
            wait_ready(port, p)
            write_kill_set(folder, services, value, interval)
            ms, problems = wait_converged(session.instance, desired_of(value), args.timeout)
            session.kill(p)
            if ms is None:
                raise RuntimeError(f"kill trials ({mode}): calibration did not converge: {problems}")
        durations.append(ms)
    window = max(durations)
    log(f"kill -9 ({mode}): an uninterrupted change of {len(services)} services takes {window:.0f} ms; "
        f"killing within [0, {window:.0f}] ms")

    trials = result["trials"]
    result.update(window_ms=window, services=len(services))
    for t in range(args.trials):
        value = next_value()
        delay = rng.uniform(0, window) / 1000
        if mode == "apply":
            write_kill_set(folder, services, value, interval)
            p = session.spawn(["apply", folder], os.path.join(session.logs, f"kill-{mode}-{value}-killed.log"))
        else:
            port = free_port()
            p = session.spawn(
                ["run", folder, "--interval", "60s", "--listen", f"127.0.0.1:{port}"],
                os.path.join(session.logs, f"kill-{mode}-{value}-killed.log"),
            )
            wait_ready(port, p)
            write_kill_set(folder, services, value, interval)
        time.sleep(delay)
        finished_first = p.poll() is not None
        session.kill(p)
        try:
            left = what_the_kill_left(containers(session.instance), desired_of(value))
        except (RuntimeError, OSError) as e:
            left = [f"observe: {e}"]
        code, ms, out, err = session.run_moor("apply", folder)
        problems = [] if code == 0 else [f"recovery apply exit {code}"]
        # At once: exactly the containers wanted, running, with the value; a container the
        # recovery created or started (not replaced) is not waited for, so health may follow.
        problems += anomalies(containers(session.instance), desired_of(value), health=False)
        if not problems:
            problems += [f"not healthy within 15 s: {p}" for p in wait_converged(session.instance, desired_of(value), 15)[1]]
        plan_code, _, plan_out, _ = session.run_moor("plan", folder)
        if plan_code != 0:
            problems.append(f"plan after recovery exit {plan_code}: {plan_out.strip()}")
        problems += foreign_touched(made)
        second = None
        session.save(
            f"kill-{mode}-{value}-recovery.log",
            f"killed after {delay * 1000:.0f} ms; left: {left}\nexit {code} in {ms:.0f} ms\n{problems}\n"
            f"--- stdout\n{out}\n--- stderr\n{err}",
        )
        if problems:
            # Would a second apply have converged?
            c2, _, o2, e2 = session.run_moor("apply", folder)
            second = c2 == 0 and wait_converged(session.instance, desired_of(value), 15)[0] is not None
            session.save(f"kill-{mode}-{value}-second.log", f"exit {c2}\n--- stdout\n{o2}\n--- stderr\n{e2}")
        trial = {
            "trial": t + 1,
            "value": value,
            "delay_ms": delay * 1000,
            "finished_before_kill": finished_first,
            "left": left,
            "recovery_ms": ms,
            "recovered": not problems,
            "problems": problems,
            "second_apply_converged": second,
            "409": err.count(RACE_409),
            "404": err.count(RACE_404),
        }
        trials.append(trial)
        log(
            f"kill -9 ({mode}) {t + 1}/{args.trials}: killed after {delay * 1000:.0f} ms"
            + (" (had finished)" if finished_first else "")
            + f", left: {', '.join(left) or 'nothing to do'}; recovery {ms:.0f} ms: "
            + ("recovered" if not problems else f"NOT RECOVERED: {'; '.join(problems)}; second apply "
               + ("converged" if second else "did not converge"))
        )


# ---------------------------------------------------------------------------------------------
# Report.


def report(session, soaks, kills, started, info):
    args = session.args
    lines = []
    out = lines.append
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out(f"Run {now}; wall time {(time.time() - started) / 60:.1f} min.")
    out("")
    out(
        f"Machine: {os.cpu_count()} cores, Linux {os.uname().release}; Docker Engine {info.get('ServerVersion')}, "
        f"storage driver {info.get('Driver')}, cgroup {info.get('CgroupVersion')}; moor {moor_version(args.moor)}."
    )
    out("")
    for mode, rounds in soaks.items():
        how = {
            "apply": "`moor apply` per replacement; time = the apply's wall time",
            "run": "one `moor run`, the manifest rewritten per replacement; time = write to converged (polled every 10 ms)",
        }[mode]
        out(f"Soak, mode `{mode}` ({how}); one `autoRemove: true` service, health-gated "
            f"(interval {args.health_interval}):")
        out("")
        out("| round | replacements | failures | p50 | p99 | max | Docker 409 | Docker 404 | rolled back |")
        out("|---|---|---|---|---|---|---|---|---|")
        every = []
        for row in rounds:
            every += row["times"]
            out(
                f"| {row['round']} | {row['replacements']} | {row['failures']} | {row['p50']:.0f} ms | "
                f"{row['p99']:.0f} ms | {row['max']:.0f} ms | {row['409']} | {row['404']} | {row['rolled_back']} |"
            )
        total = sum(r["replacements"] for r in rounds)
        fails = sum(r["failures"] for r in rounds)
        out(
            f"| **all** | **{total}** | **{fails}** | **{percentile(every, 50):.0f} ms** | "
            f"**{percentile(every, 99):.0f} ms** | **{max(every) if every else float('nan'):.0f} ms** | "
            f"**{sum(r['409'] for r in rounds)}** | **{sum(r['404'] for r in rounds)}** | "
            f"**{sum(r['rolled_back'] for r in rounds)}** |"
        )
        out("")
        b = session.breakdowns.get(mode)
        if b:
            m = b["medians_ms"]
            out(
                f"Where a replacement goes (moor run's debug log, medians of {b['replacements']}): the folder "
                f"watch's 200 ms debounce, then moor plans in {m[0]:.0f} ms; Docker's create, stop and start "
                f"{m[1]:.0f} ms; the new container healthy after {m[2]:.0f} ms; remove and rename {m[3]:.0f} ms."
            )
            out("")
        notes = [n for r in rounds for n in r["notes"]]
        for n in notes:
            out(f"- {n}")
        if notes:
            out("")
    if kills:
        out("| kill -9 of | trials | recovered | kill left work | what the kill left (trials) | recovery p50 / max | anomalies |")
        out("|---|---|---|---|---|---|---|")
        for mode, k in kills.items():
            trials = k["trials"]
            recovered = sum(t["recovered"] for t in trials)
            # The kill left work when it found anything but the desired state.
            mid = sum(bool(t["left"]) for t in trials)
            left = {}
            for t in trials:
                for item in t["left"] or ["nothing"]:
                    kind = item.split(" ", 1)[1] if item[0].isdigit() else item
                    left[kind] = left.get(kind, 0) + 1
            rec = [t["recovery_ms"] for t in trials]
            anomalies_ = [f"trial {t['trial']}: {'; '.join(t['problems'])}" for t in trials if t["problems"]]
            out(
                f"| `moor {mode}` ({k['services']} services, delay uniform in [0, {k['window_ms']:.0f}] ms) | "
                f"{len(trials)} | {recovered} | {mid} | "
                + ", ".join(f"{kind}: {n}" for kind, n in sorted(left.items()))
                + f" | {statistics.median(rec):.0f} / {max(rec):.0f} ms | {'; '.join(anomalies_) or 'none'} |"
            )
        out("")
    out("Reproduce (release build):")
    out("")
    out("```sh")
    out("cargo build --release --bin moor")
    out("python3 " + " ".join(shlex.quote(a) for a in sys.argv))
    out("```")
    return "\n".join(lines)


def moor_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip().split(" ", 1)[1]
    except (OSError, IndexError):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moor", default="target/release/moor")
    ap.add_argument("--replacements", type=int, default=1000, help="per soak mode")
    ap.add_argument("--round", type=int, default=100, help="replacements per round")
    ap.add_argument("--soak-modes", default="apply,run", help="comma-separated: apply, run; or none")
    ap.add_argument("--trials", type=int, default=20, help="kill -9 trials per kill mode")
    ap.add_argument("--kill-modes", default="apply,run", help="comma-separated: apply, run; or none")
    ap.add_argument("--kill-services", type=int, default=10)
    ap.add_argument("--health-interval", default="500ms", help="the services' healthcheck interval")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for one apply or one convergence")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--logs", help="where failing replacements' logs go (default target/soak/INSTANCE)")
    ap.add_argument("--json", help="also write every measurement to this file")
    args = ap.parse_args()
    modes = lambda s: [m for m in s.split(",") if m and m != "none"]
    args.soak_modes, args.kill_modes = modes(args.soak_modes), modes(args.kill_modes)
    for m in args.soak_modes + args.kill_modes:
        if m not in ("apply", "run"):
            sys.exit(f"unknown mode {m!r}: apply, run or none")
    assert args.kill_services >= 4, "the trial set needs at least 4 services (2 replicas, start-first)"
    if not os.access(args.moor, os.X_OK):
        sys.exit(f"{args.moor}: not found; cargo build --release --bin moor")
    global SOCK
    SOCK = docker_socket()

    # SIGTERM (and SIGHUP) clean up as Ctrl-C does.
    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    started = time.time()
    info = daemon_info()
    ensure_image()
    session = Session(args)
    log(f"instance {session.instance}; logs in {session.logs}")
    soaks, kills = {}, {}
    interrupted = False
    try:
        for mode in args.soak_modes:
            soaks[mode] = []
            soak(session, mode, soaks[mode])
        made = foreign_containers(session) if args.kill_modes else {}
        for mode in args.kill_modes:
            kills[mode] = {"trials": []}
            kill_trials(session, mode, made, kills[mode])
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): cleaning up; the report covers what finished")
        interrupted = True
    except Exception:  # noqa: BLE001 - report what finished, then fail
        traceback.print_exc()
        interrupted = True
    finally:
        session.cleanup()
    soaks = {m: r for m, r in soaks.items() if r}
    kills = {m: k for m, k in kills.items() if k["trials"]}
    text = report(session, soaks, kills, started, info)
    if interrupted:
        text = "**Interrupted or aborted** (see stderr): the tables cover the rounds and trials that finished.\n\n" + text
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"soak": soaks, "kill": kills, "instance": session.instance}, f, indent=1)
    failed = any(r["failures"] for rounds in soaks.values() for r in rounds) or any(
        not t["recovered"] for k in kills.values() for t in k["trials"]
    )
    return 1 if failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
