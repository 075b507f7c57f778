"""kill -9 trials: a live incident against a loopback AWS, killed at random points, resumed.

Each trial runs a shipped runbook in live mode in a child process against moto (through
a front door that logs every request), SIGKILLs it once the journal reaches a random
length, then resumes it, killing some resumes too, until the incident is sealed. Then
it checks what a responder relies on, reading back from the server, not from rescind:

- the account ends exactly as an uninterrupted run leaves it;
- no mutating request reached the server twice (same operation, same parameters);
- the record verifies intact.

``tests/reliability/test_kill_trials.py`` runs a handful; ``scripts/kill_trials.py``
runs a hundred or more and prints the figures that docs/reliability.md quotes.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from rescind.providers.aws_guard import is_read_operation
from rescind.record.allowed_signers import signer_line
from rescind.record.verify import verify_incident
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from tests.aws.state import snapshot

ROOT = Path(__file__).resolve().parents[2]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Chooser = Callable[["Trial", int], "Kill | None"]  # (trial so far, journal lines) -> next kill
# Fields that differ between two sends of the same logical request.
_NONCES = {"Version", "ClientRequestToken", "SecretString", "SecretBinary", "Password"}


@dataclass(frozen=True)
class Case:
    runbook: Path
    scenario: Path
    inputs: dict[str, str]


LEAKED_KEY = Case(ROOT / "runbooks" / "aws-access-key-compromise.yaml",
                  ROOT / "runbooks" / "scenarios" / "leaked-access-key.yaml",
                  {"access_key_id": "AKIAIOSFODNN7EXAMPLE"})


class MutationLog:
    """Every mutating request that reached moto, as (service, operation, parameters)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            call = _describe(environ, body)
            if call is not None:
                with self.lock:
                    self.calls.append(call)
            return app(environ, start_response)

        return logged

    def take(self) -> list[str]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


def _describe(environ: dict[str, Any], body: bytes) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = auth.split("/")[3] if auth.count("/") >= 4 else "?"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            params = {k: v for k, v in json.loads(body or b"{}").items() if k not in _NONCES}
        except ValueError:
            params = {"body": body.decode("utf-8", "replace")}
    else:
        pairs = parse_qsl(body.decode("utf-8", "replace")) + parse_qsl(
            environ.get("QUERY_STRING", ""))
        params = {k: v for k, v in pairs if k not in _NONCES and k != "Action"}
        operation = dict(pairs).get("Action", "?")
    if environ.get("PATH_INFO", "").startswith("/moto-api") or is_read_operation(service,
                                                                                  operation):
        return None
    return f"{service}:{operation} {json.dumps(params, sort_keys=True)}"


@contextmanager
def front_door(log: MutationLog) -> Iterator[str]:
    """A logging WSGI server in front of moto (moto's state is global to the process)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer

    class Quiet(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            """No access log."""

    server = ThreadedWSGIServer("127.0.0.1", 0,
                                log.wrap(DomainDispatcherApplication(create_backend_app)),
                                handler=Quiet)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


DIE_AFTER = "RESCIND_KILLRUN_DIE_AFTER"  # kind:step[:stage], read by tests/reliability/child.py


@dataclass(frozen=True)
class Kill:
    """When to SIGKILL a child: once the journal has ``lines`` lines, or ``file`` exists."""

    lines: int | None = None
    file: str | None = None
    # right after the journal entry (kind, step[, stage]): the child dies itself
    entry: tuple[str, ...] | None = None

    def due(self, out: Path) -> bool:
        incident = _incident_dir(out)
        if self.file is not None:
            return incident is not None and (incident / self.file).exists()
        return self.lines is not None and _journal_lines(out) >= self.lines

    def __str__(self) -> str:
        if self.entry is not None:
            return f"right after {' '.join(self.entry[::2])} of {self.entry[1]}"
        return f"when {self.file} appeared" if self.file else f"at journal line {self.lines}"


@dataclass
class Trial:
    name: str
    kills: list[str] = field(default_factory=list)
    runs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _keygen(path: Path, email: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(path)],
                   check=True)
    return Path(f"{path}.pub").read_text().strip()


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The account state, without what differs between two equal runs.

    Quarantine and session-revocation policies carry the incident id and the time they
    were written, and a rotated secret's version id is random: which policies exist and
    how many versions each secret has in which stages do not differ.
    """
    for user in state["users"].values():
        user["inline"] = sorted(user["inline"])
    state["secrets"] = {name: sorted(sorted(stages) for stages in (versions or {}).values())
                        for name, versions in state["secrets"].items()}
    return state


class Harness:
    """A work folder with the responder's and the approver's keys, and the logged moto."""

    def __init__(self, work: Path, case: Case = LEAKED_KEY, *,
                 max_kills: int = 3, timeout: float = 300.0) -> None:
        self.work = work
        self.case = case
        self.max_kills = max_kills
        self.timeout = timeout
        self.log = MutationLog()
        work.mkdir(parents=True, exist_ok=True)
        _keygen(work / "responder_key", "responder@example.com")
        approver = _keygen(work / "approver_key", "approver@example.com")
        (work / "approvers").write_text(signer_line("approver@example.com", approver) + "\n")
        self.reference: dict[str, Any] | None = None
        self.reference_lines = 0

    # -- one child ------------------------------------------------------------------
    def _spawn(self, args: list[str], env: dict[str, str],
               log_name: str) -> subprocess.Popen[bytes]:
        with open(self.work / log_name, "ab") as out:
            return subprocess.Popen([sys.executable, "-m", "tests.reliability.child", *args],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)

    def _run(self, args: list[str], env: dict[str, str], out: Path, kill: Kill | None,
             log_name: str) -> tuple[int | None, str | None]:
        """Run a child; SIGKILL it as soon as ``kill`` holds.

        A kill after a given journal entry is done by the child itself, right after
        that entry is on disk: the next line follows within microseconds, so no
        poller could land there reliably."""
        if kill is not None and kill.entry is not None:
            child = self._spawn(args, {**env, DIE_AFTER: ":".join(kill.entry)}, log_name)
            code = child.wait(timeout=self.timeout)
            if code == -signal.SIGKILL:
                return None, f"{kill} (journal at line {_journal_lines(out)})"
            return code, None
        child = self._spawn(args, env, log_name)
        killed = None
        try:
            while child.poll() is None:
                if kill is not None and kill.due(out):
                    os.kill(child.pid, signal.SIGKILL)
                    killed = f"{kill} (journal at line {_journal_lines(out)})"
                    break
                with suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.002)
            code = child.wait(timeout=self.timeout)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        return (None if killed else code), killed

    # -- a whole incident -----------------------------------------------------------
    def incident(self, name: str, kills: Chooser | None = None) -> Trial:
        """Run the case to its seal, killing the child wherever ``kills`` says."""
        choose = kills or (lambda _trial, _now: None)
        trial = Trial(name)
        out = self.work / name
        with start_aws_sandbox(self.case.scenario) as sandbox, front_door(self.log) as door:
            self.log.take()
            env = self._env(sandbox, door)
            start = ["start", str(self.case.runbook), str(out), json.dumps(self.case.inputs),
                     str(self.work)]
            code, killed = self._run(start, env, out, choose(trial, 0), f"{name}.log")
            trial.runs += 1
            while killed or code != 0:
                if killed:
                    trial.kills.append(killed)
                elif code != 0:
                    trial.problems.append(f"run {trial.runs} exited {code} (see {name}.log)")
                    break
                incident = _incident_dir(out)
                if incident is None:  # killed before the folder existed: start again
                    code, killed = self._run(start, env, out, None, f"{name}.log")
                else:
                    kill = choose(trial, _journal_lines(out))
                    code, killed = self._run(["resume", str(incident), str(self.work)], env,
                                             out, kill, f"{name}.log")
                trial.runs += 1
            calls = self.log.take()
            state = _comparable(snapshot(sandbox))
        if kills is None:
            self.reference, self.reference_lines = state, _journal_lines(out)
        self._check(trial, out, calls, state)
        return trial

    def random_kills(self, rng: random.Random) -> Chooser:
        """Kill the first run and about half the resumes, at most ``max_kills`` times."""
        def choose(trial: Trial, now: int) -> Kill | None:
            if len(trial.kills) >= self.max_kills or (trial.kills and rng.random() < 0.5):
                return None
            roll = rng.random()
            if roll < 0.1:  # inside the seal: after SHA256SUMS, before its signature
                return Kill(file="SHA256SUMS")
            if roll < 0.2:  # inside the seal: incident.close journaled, nothing else yet
                return Kill(lines=max(now + 1, self.reference_lines))
            return Kill(lines=rng.randint(now + 1, max(now + 1, self.reference_lines)))

        return choose

    def _check(self, trial: Trial, out: Path, calls: list[str], state: dict[str, Any]) -> None:
        twice = [call for call, n in Counter(calls).items() if n > 1]
        trial.problems += [f"sent twice: {call}" for call in twice]
        if self.reference is not None and state != self.reference:
            trial.problems.append("the account differs from an uninterrupted run's: "
                                  + "; ".join(_differences(self.reference, state)))
        incident = _incident_dir(out)
        if incident is None:
            trial.problems.append("no incident folder")
            return
        report = verify_incident(incident)
        if report.status != "ok" or not report.sealed:
            trial.problems.append("verify: " + "; ".join(report.summary()))

    def prepare(self) -> Trial:
        """The uninterrupted run every trial is compared with."""
        return self.incident("reference")

    def _env(self, sandbox: AwsSandbox, door: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESCIND_"))}
        env.update(sandbox.env())
        env["AWS_ENDPOINT_URL"] = door
        env["RESCIND_CONFIG_DIR"] = str(self.work / "config")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT),
                                                        env.get("PYTHONPATH", "")) if p)
        return env


def _differences(want: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        return [d for key in sorted(set(want) | set(got))
                for d in _differences(want.get(key), got.get(key), f"{path}/{key}")]
    return [] if want == got else [f"{path}: {want!r} -> {got!r}"]


def _incident_dir(out: Path) -> Path | None:
    found = sorted(p.parent for p in out.glob("*/journal.jsonl"))
    return found[0] if found else None


def _journal_lines(out: Path) -> int:
    incident = _incident_dir(out)
    if incident is None:
        return 0
    try:
        return (incident / "journal.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
