"""Run our composite actions' steps the way the GitHub runner does, on this machine.

Supported, as the runner documents them: ``runs.steps`` of a composite action
with ``run:`` (bash) and ``uses:`` steps; ``if:``, ``env:``, ``with:``,
``working-directory:``, ``continue-on-error:``; expressions ``${{ }}`` over
``inputs``, ``steps.<id>.outputs|outcome|conclusion``, ``env``, ``github``,
``job``, ``runner`` and ``matrix``, with ``== != && || !``, parentheses,
literals and the functions ``success() failure() always() cancelled()
toJSON() format() contains()``; the files ``$GITHUB_ENV``, ``$GITHUB_OUTPUT``
(``name=value`` and ``name<<DELIM`` heredocs), ``$GITHUB_PATH`` and
``$GITHUB_STEP_SUMMARY``.

``actions/cache/restore`` and ``actions/cache/save`` are served by a local
directory with the same rules (exact key, then restore-key prefixes, newest
first; ``cache-hit`` only on an exact match; no overwrite of an existing key).
Archives are tar (PAX) files; mtimes are restored to the nanosecond as the
real action's tar does. Any other ``uses:`` is refused: a test must not pass
by skipping a step it did not understand.

The composite actions as a whole run under a real runner (act) in
``tests/act/``: manifest loading, the scenarios a user sees (cold, warm, lock
bump, Rust change, red build, wheel cache, matrix, PR comment). This harness
stays for what act cannot do: inject faults into actions/cache (the service
failing a restore or a save), cancel a job while its build runs (SIGINT to
the step's processes, as the runner does), and run single steps of the save
action against a prepared job (``tests/integration/test_fault_injection.py``,
``tests/integration/test_wheel_cache_action.py``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||<=|>=|[!<>(),.\[\]*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


class ExpressionError(Exception):
    pass


class _Parser:
    def __init__(self, text: str, ctx: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ExpressionError(f"cannot parse expression at {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.ctx = ctx

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"expected {value!r}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"trailing tokens: {self.tokens[self.i :]}")
        return value

    def or_(self) -> Any:
        return self._chain("||", self.and_, stop_at=True)

    def and_(self) -> Any:
        return self._chain("&&", self.cmp, stop_at=False)

    def _chain(self, op: str, operand: Callable[[], Any], stop_at: bool) -> Any:
        """``a op b op ...``: the first operand whose truth is ``stop_at``, else the last."""
        left = operand()
        while self.peek() == ("op", op):
            self.take()
            right = operand()
            left = left if _truthy(left) == stop_at else right
        return left

    def cmp(self) -> Any:
        left = self.unary()
        tok = self.peek()
        if tok and tok[1] in ("==", "!="):
            self.take()
            right = self.unary()
            equal = _loose_eq(left, right)
            return equal if tok[1] == "==" else not equal
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while True:
            tok = self.peek()
            if tok == ("op", "."):
                self.take()
                name = self.take()[1]
                value = value.get(name, "") if isinstance(value, dict) else ""
            elif tok == ("op", "["):
                self.take()
                key = self.or_()
                self.take("]")
                value = value.get(key, "") if isinstance(value, dict) else ""
            else:
                return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if self.peek() == ("op", "("):
                self.take()
                args: list[Any] = []
                while self.peek() != ("op", ")"):
                    args.append(self.or_())
                    if self.peek() == ("op", ","):
                        self.take()
                self.take(")")
                return self.call(text, args)
            return self.ctx.get(text, "")
        raise ExpressionError(f"unexpected token {text!r}")

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.ctx.get("__status__", "success")
        if name == "success":
            return status == "success"
        if name == "failure":
            return status == "failure"
        if name == "always":
            return True
        if name == "cancelled":
            return self.ctx.get("__job_status__", status) == "cancelled"
        if name == "toJSON":
            return json.dumps(args[0], indent=2)
        if name == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return needle in hay
            return str(needle).lower() in str(hay).lower()
        if name == "format":
            out = str(args[0])
            for index, arg in enumerate(args[1:]):
                out = out.replace("{" + str(index) + "}", _to_string(arg))
            return out
        raise ExpressionError(f"unsupported function {name}()")


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, 0.0)


def _loose_eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def evaluate(expression: str, ctx: dict[str, Any]) -> Any:
    return _Parser(expression, ctx).parse()


def substitute(text: str, ctx: dict[str, Any]) -> str:
    return _EXPR.sub(lambda m: _to_string(evaluate(m.group(1), ctx)), text)


def _condition(expr: str, ctx: dict[str, Any]) -> bool:
    text = expr.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    # The runner adds `success() &&` to conditions with no status function.
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", text):
        text = f"success() && ({text})"
    return _truthy(evaluate(text, ctx))


def parse_command_file(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM ... DELIM`` blocks, as the runner reads them."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"unterminated heredoc {delim!r} in {path}")
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


class LocalActionsCache:
    """actions/cache/restore and /save, backed by a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.saves: list[str] = []
        # Injected faults: `fail` breaks both calls, the others one each.
        self.fail = False
        self.fail_restore = False
        self.fail_save = False

    def _entry(self, key: str) -> Path:
        return self.root / (key.replace("/", "%2F") + ".tar")

    def _paths(self, spec: str, workspace: Path) -> list[Path]:
        """Lines of `path:`: ~, workspace-relative paths and globs, as actions/cache reads them."""
        out: list[Path] = []
        for line in spec.splitlines():
            if not line.strip():
                continue
            path = Path(os.path.normpath(workspace / os.path.expanduser(line.strip())))
            if any(ch in str(path) for ch in "*?["):
                out += [Path(p) for p in sorted(glob.glob(str(path)))]
            else:
                out.append(path)
        return out

    def restore(self, with_: dict[str, str]) -> dict[str, str]:
        if self.fail or self.fail_restore:
            raise RuntimeError("cache service unavailable (injected fault)")
        key = with_["key"]
        restore_keys = [k.strip() for k in with_.get("restore-keys", "").splitlines() if k.strip()]
        entries = sorted(self.root.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
        names = {p.name[: -len(".tar")].replace("%2F", "/"): p for p in entries}
        matched = key if key in names else None
        if matched is None:
            # GitHub: the exact key, then the key as a prefix, then each restore key.
            for prefix in (key, *restore_keys):
                matched = next((n for n in names if n.startswith(prefix)), None)
                if matched:
                    break
        if matched is None:
            return {"cache-hit": "false", "cache-primary-key": key, "cache-matched-key": ""}
        with tarfile.open(names[matched]) as tar:
            tar.extractall("/", filter="fully_trusted")
            for member in tar.getmembers():
                mtime_ns = member.pax_headers.get("pyo3cache.mtime_ns")
                if mtime_ns and not member.issym():
                    os.utime("/" + member.name, ns=(int(mtime_ns), int(mtime_ns)))
        return {
            "cache-hit": "true" if matched == key else "false",
            "cache-primary-key": key,
            "cache-matched-key": matched,
        }

    def save(self, with_: dict[str, str], workspace: Path) -> dict[str, str]:
        if self.fail or self.fail_save:
            raise RuntimeError("cache service unavailable (injected fault)")
        key = with_["key"]
        entry = self._entry(key)
        if entry.exists():
            raise RuntimeError(
                f"Unable to reserve cache with key {key}, another job may be creating this cache."
            )
        tmp = entry.with_suffix(".partial")
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in self._paths(with_["path"], workspace):
                if path.exists():
                    self._add(tar, path)
        tmp.rename(entry)
        self.saves.append(key)
        return {}

    @staticmethod
    def _add(tar: tarfile.TarFile, path: Path) -> None:
        """A file, or a tree, with exact mtimes in a PAX record (as the real tar keeps them)."""
        members = (
            [path]
            if not path.is_dir()
            else [
                Path(folder) / name
                for folder, dirs, files in os.walk(path)
                for name in sorted(dirs) + sorted(files)
            ]
        )
        for full in members:
            info = tar.gettarinfo(str(full), arcname=str(full).lstrip("/"))
            info.pax_headers = {"pyo3cache.mtime_ns": str(full.lstat().st_mtime_ns)}
            if info.isfile():
                with full.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


@dataclass
class StepResult:
    id: str
    name: str
    outcome: str
    conclusion: str
    outputs: dict[str, str]
    log: str


@dataclass
class Job:
    """One job on one runner: a workspace, a temp dir, and the env files.

    ``runner_temp`` is RUNNER_TEMP. On a hosted runner it is the same path for
    every job and empty when a job starts; pass ``job_dir`` (the harness's own
    files: summary, command files, step output) to model that: RUNNER_TEMP is
    then emptied when the job starts, and what a test reads afterwards stays
    in ``job_dir``. Without it both are ``runner_temp`` and nothing is wiped.
    """

    workspace: Path
    runner_temp: Path
    cache: LocalActionsCache
    base_env: dict[str, str]
    github: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path_prepend: list[str] = field(default_factory=list)
    status: str = "success"
    summary: Path = field(init=False)
    log: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    restore_outputs: dict[str, str] = field(default_factory=dict)
    build_log: str = ""
    job_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.job_dir is None:
            self.job_dir = self.runner_temp
        elif self.runner_temp.exists():
            shutil.rmtree(self.runner_temp)  # the runner empties it for each job
        self.runner_temp.mkdir(parents=True, exist_ok=True)
        self.job_dir.mkdir(parents=True, exist_ok=True)
        self.summary = self.job_dir / "step_summary.md"
        self.summary.write_text("")

    @property
    def files_dir(self) -> Path:
        return self.job_dir or self.runner_temp

    def _files(self, n: int) -> dict[str, Path]:
        d = self.files_dir / "_runner_file_commands" / str(n)
        d.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH"):
            f = d / name.lower()
            f.write_text("")
            files[name] = f
        return files

    def process_env(self, files: dict[str, Path] | None = None) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(self.env)
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(self.workspace),
            RUNNER_TEMP=str(self.runner_temp),
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_JOB=str(self.github.get("job", "build")),
            GITHUB_REPOSITORY=str(self.github.get("repository", "octo/hello")),
        )
        if self.path_prepend:
            env["PATH"] = os.pathsep.join([*reversed(self.path_prepend), env.get("PATH", "")])
        if files:
            env.update({k: str(v) for k, v in files.items()})
        return env

    def run_shell(
        self,
        script: str,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
        cancel_when: Callable[[], bool] | None = None,
    ) -> int:
        """A user's `run:` step (e.g. the build) between our actions.

        ``cancel_when``: polled while the step runs; once true, the job is
        cancelled as the runner does it (SIGINT to the step's processes) and
        the job's status becomes ``cancelled``.
        """
        files = self._files(len(self.log) + 1000)
        env = self.process_env(files)
        env.update(extra_env or {})
        out = self.files_dir / f"step-{len(self.log)}.out"
        with out.open("w") as sink:
            proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=cwd or self.workspace,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            cancelled = False
            while proc.poll() is None:
                if cancel_when is not None and not cancelled and cancel_when():
                    os.killpg(proc.pid, signal.SIGINT)
                    cancelled = True
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)
        self.log.append(out.read_text(errors="replace"))
        self._absorb(files)
        if cancelled:
            self.status = "cancelled"
        elif proc.returncode != 0:
            self.status = "failure"
        return proc.returncode

    def _absorb(self, files: dict[str, Path]) -> dict[str, str]:
        self.env.update(parse_command_file(files["GITHUB_ENV"]))
        for line in files["GITHUB_PATH"].read_text().splitlines():
            if line.strip():
                self.path_prepend.append(line.strip())
        return parse_command_file(files["GITHUB_OUTPUT"])

    def run_action(
        self, action_dir: Path, inputs: dict[str, str] | None = None
    ) -> list[StepResult]:
        spec = yaml.safe_load((action_dir / "action.yml").read_text())
        given = dict(inputs or {})
        resolved_inputs: dict[str, str] = {}
        base_ctx = self._ctx({}, {})
        for name, decl in (spec.get("inputs") or {}).items():
            if name in given:
                resolved_inputs[name] = given.pop(name)
            else:
                default = str((decl or {}).get("default", ""))
                resolved_inputs[name] = substitute(default, base_ctx)
        if given:
            raise ValueError(f"unknown inputs for {action_dir.name}: {sorted(given)}")
        steps: dict[str, dict[str, Any]] = {}
        results: list[StepResult] = []
        # Inside a composite action success()/failure() test the action's own
        # steps (github.action_status), not the job: a save action run with
        # `if: always()` after a failed build still runs its steps.
        action_status = "success"
        for n, step in enumerate(spec["runs"]["steps"]):
            sid = step.get("id") or f"__step{n}"
            ctx = self._ctx(resolved_inputs, steps)
            ctx["__status__"] = action_status
            name = str(step.get("name", sid))
            if "if" in step and not _condition(str(step["if"]), ctx):
                steps[sid] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                results.append(StepResult(sid, name, "skipped", "skipped", {}, ""))
                continue
            env = {
                k: _to_string(substitute(str(v), ctx)) for k, v in (step.get("env") or {}).items()
            }
            outputs: dict[str, str] = {}
            text = ""
            if "run" in step:
                if "${{" in step["run"]:
                    raise AssertionError(f"step {name!r} puts an expression inside run:")
                files = self._files(n)
                penv = self.process_env(files)
                penv["GITHUB_ACTION_PATH"] = str(action_dir)
                penv.update(env)
                cwd = self.workspace / substitute(str(step.get("working-directory", ".")), ctx)
                proc = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                    cwd=cwd,
                    env=penv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                text = proc.stdout
                outputs = self._absorb(files)
                ok = proc.returncode == 0
            else:
                uses = str(step["uses"])
                with_ = {k: substitute(str(v), ctx) for k, v in (step.get("with") or {}).items()}
                try:
                    if uses.startswith("actions/cache/restore@"):
                        outputs = self.cache.restore(with_)
                    elif uses.startswith("actions/cache/save@"):
                        outputs = self.cache.save(with_, self.workspace)
                    else:
                        raise AssertionError(f"the harness does not know {uses}")
                    ok = True
                except (RuntimeError, OSError, KeyError) as exc:
                    text = f"::warning::{exc}"
                    ok = False
            self.log.append(text)
            outcome = "success" if ok else "failure"
            conclusion = "success" if ok or step.get("continue-on-error") else "failure"
            steps[sid] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
            results.append(StepResult(sid, name, outcome, conclusion, outputs, text))
            if conclusion == "failure":
                action_status = "failure"
                self.status = "failure"
                break
        self.outputs = {
            k: substitute(str(v.get("value", "")), self._ctx(resolved_inputs, steps))
            for k, v in (spec.get("outputs") or {}).items()
        }
        return results

    def _ctx(self, inputs: dict[str, str], steps: dict[str, Any]) -> dict[str, Any]:
        env = self.process_env()
        gh = {
            "token": self.github.get("token", "ghs_faketoken"),
            "job": self.github.get("job", "build"),
            # The runner's github context (steps pin these from it, not from env).
            "api_url": env.get("GITHUB_API_URL", "https://api.github.com"),
            "repository": env.get("GITHUB_REPOSITORY", ""),
            "event_path": env.get("GITHUB_EVENT_PATH", ""),
            "event_name": env.get("GITHUB_EVENT_NAME", ""),
        }
        gh.update(self.github)
        return {
            "inputs": inputs,
            "steps": steps,
            "env": env,
            "github": gh,
            "job": {"status": self.status},
            "runner": {
                "os": "Linux",
                "arch": "X64",
                "temp": str(self.runner_temp),
                # kept across jobs, as a runner's tool cache
                "tool_cache": str(self.runner_temp.parent / "_tool"),
            },
            "matrix": self.github.get("matrix", {}),
            "__status__": self.status,
            "__job_status__": self.status,
        }


def wait_for_new_mtime() -> None:
    """Let the clock move on, so cache entries saved back to back sort by time."""
    time.sleep(0.02)
