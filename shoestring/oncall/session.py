"""What every runbook works with: the app it is about (from the same definitions and stack
config the Pulumi program declares), the cluster's API, and a guided walk through numbered steps.

A runbook reports ``problem(...)`` for what is wrong, ``cannot_check(...)`` for what stops it
from looking and ``waiting(...)`` for what is expected to resolve on its own; the session turns
them into a verdict line and the exit status, one meaning each: 0 healthy or nothing to do,
1 a problem found, 2 could not check, 3 waiting on something expected to resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
import urllib3
import yaml
from kubernetes import client
from kubernetes import config as kubeconfig
from kubernetes.client.rest import RESTResponse
from rich.console import Console

from program import config, definitions
from program.config import ProjectInstance, StackConfig
from program.definitions import App, Batch

HEALTHY, UNHEALTHY, CANNOT_CHECK, WAITING = 0, 1, 2, 3
REQUEST_TIMEOUT_SECONDS = 5.0
"""How long one Kubernetes API request may take, connecting and answering, with no retry: a hung
or unreachable API server ends the walk with exit 2 this long after the request it hangs on
(``--request-timeout``, ON_CALL_REQUEST_TIMEOUT). It is one deadline for the whole request, however
slowly its answer arrives, and bounds the kubeconfig's exec credential plugin too."""
MAX_ANSWER_BYTES = 32 * 2**20
"""The most an answer may hold, decompressed: a namespace's pods at its quota (1,000) and their events
are a few MB. A larger answer is not the API server's, and read whole it would take the memory of the
engineer's machine (a 1 GiB body, or a gzip bomb: a few KB that inflate to gigabytes)."""


class DeadlinePassed(BaseException):
    """A request, or the kubeconfig's credential plugin, did not finish within the timeout. A
    BaseException, so that no ``except Exception`` on the way (the kubernetes client logs and
    ignores an exec plugin's failure: kubernetes/config/kube_config.py, _load_from_exec_plugin) keeps it."""


class AnswerTooLarge(Exception):
    """An answer larger than MAX_ANSWER_BYTES."""


def within(seconds: float, work: Callable[[], object]) -> object:
    """``work()``'s result, or DeadlinePassed once ``seconds`` have passed, whatever it is blocked on.

    urllib3's timeouts bound each read of the socket, not the answer (urllib3 2.x util/timeout.py:96-98:
    "the read and total timeouts only measure the time between read operations on the socket ... not
    the total amount of time for the request to return a complete response"), so a server trickling a
    byte a second never times out; and the kubernetes client waits for an exec plugin with no timeout
    at all (kubernetes 37.0.2 kubernetes/config/exec_provider.py:100, ExecProvider.run:
    ``process.communicate()``). So a timer signal interrupts the work where it blocks: Python runs the
    handler between two reads, or in the wait, and its exception ends them (PEP 475: a system call
    interrupted by a signal whose handler raises is not retried). No thread is left behind: one still
    reading when on-call exits aborts the interpreter (SIGABRT, exit -6, measured). Signals reach the
    main thread only; elsewhere urllib3's own timeouts are all there is."""
    if threading.current_thread() is not threading.main_thread():
        return work()

    def expire(signum, frame) -> None:  # noqa: ANN001 — signal's signature
        raise DeadlinePassed(f"not finished within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_capped(response: urllib3.BaseHTTPResponse, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of ``response``, decompressed, or AnswerTooLarge past ``limit`` bytes; read in
    pieces, so at most one piece beyond it is ever held (urllib3 2.x inflates no more than the
    amount asked for: response.py, the decoders' ``decompress(data, max_length)``, used by ``read(amt)``)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit and not response.headers.get("Content-Encoding"):
        response.close()
        raise AnswerTooLarge(f"it declares {int(declared):,} bytes")
    pieces, size = [], 0
    while piece := response.read(256 * 1024, decode_content=True):
        size += len(piece)
        if size > limit:
            response.close()
            raise AnswerTooLarge(f"it holds more than {limit:,} bytes")
        pieces.append(piece)
    response.release_conn()
    return b"".join(pieces)


class CannotCheck(Exception):
    """The runbook cannot look (cluster unreachable, app unknown): exit 2 with what to do.
    ``what`` is the failure alone, without the advice, for a runbook that carries on past it."""

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what or message


class StoppedByUser(Exception):
    """The engineer answered no at a step."""


@dataclass(frozen=True)
class Target:
    """What a runbook is about, as the stack deploys it: an app, a project's batch (``app`` is
    then None), or the whole cluster (``project`` None too)."""

    environment: str
    project: ProjectInstance | None
    app: App | None
    gcp_project: str = ""
    """The GCP project the stack deploys into (its secrets live there)."""
    batch: Batch | None = None
    stack: StackConfig | None = None
    """The stack's whole configuration (its GPU pool, budget...)."""

    @property
    def namespace(self) -> str:
        return self.project.namespace

    @property
    def title(self) -> str:
        """What the first line names: ``blog/frontend in namespace blog``."""
        if self.project is None:
            return "the cluster"
        name = self.app.name if self.app is not None else self.batch.name
        return f"{self.project.name}/{name}{' (batch)' if self.batch is not None else ''} in namespace {self.namespace}"

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/name={self.app.name}"


def load_stack(environment: str) -> StackConfig:
    """The stack's configuration, from projects/ and stacks/Pulumi.<env>.yaml."""
    try:
        return config.load(environment, config.read_stack_files(environment)[0], definitions.discover())
    except FileNotFoundError as e:
        raise CannotCheck(f"unknown environment {environment!r}: {e}") from None
    except (config.ConfigError, definitions.DefinitionError) as e:
        raise CannotCheck(f"the {environment} stack's configuration is not valid: {e}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 — a definition that cannot be read is never "healthy"
        # A definition that exits (SystemExit(0) would end on-call with "healthy"'s 0) or fails in
        # any other way leaves nothing to check against.
        raise CannotCheck(_one_line(f"the definitions in projects/ could not be read ({type(e).__name__}: {_clip(str(e))}); run `make plan STACK={environment}` to see why")) from None


def find_target(app: str, project: str | None, environment: str) -> Target:
    """Resolve ``--app``/``--project``/``--env`` against projects/ and stacks/Pulumi.<env>.yaml."""
    stack = load_stack(environment)
    candidates = [
        (instance, deployed)
        for instance in stack.deployed
        for deployed in instance.apps
        if deployed.name == app and (project is None or instance.name == project)
    ]
    known = ", ".join(f"{i.name}/{a.name}" for i in stack.deployed for a in i.apps)
    if not candidates:
        raise CannotCheck(f"no app {app!r}{f' in project {project!r}' if project else ''} in {environment}. Known apps: {known}")
    if len(candidates) > 1:
        raise CannotCheck(f"app {app!r} is in several projects; name one with --project. Known apps: {known}")
    instance, deployed = candidates[0]
    return Target(environment=environment, project=instance, app=deployed, gcp_project=stack.gcp_project, stack=stack)


def find_batch(name: str, environment: str) -> Target:
    """Resolve ``PROJECT/BATCH`` against the batches the stack deploys (its parallelism and tag)."""
    stack = load_stack(environment)
    known = ", ".join(f"{i.name}/{b.name}" for i in stack.deployed for b in i.batches) or "none"
    project, _, batch = name.partition("/")
    found = [(i, b) for i in stack.deployed for b in i.batches if i.name == project and b.name == batch]
    if not found:
        raise CannotCheck(f"no batch {name!r} in {environment} (PROJECT/BATCH, as in projects/<project>.yaml). Known batches: {known}")
    instance, deployed = found[0]
    return Target(environment=environment, project=instance, app=None, gcp_project=stack.gcp_project, batch=deployed, stack=stack)


def cluster_target(environment: str) -> Target:
    """The stack's cluster as a whole, for runbooks about no one app."""
    stack = load_stack(environment)
    return Target(environment=environment, project=None, app=None, gcp_project=stack.gcp_project, stack=stack)


@dataclass
class Kube:
    """The Kubernetes API clients for the cluster, built from a kubeconfig."""

    api: client.ApiClient
    context: str = "(current)"
    """The kubeconfig context, to name in a message about access."""
    timeout: float = REQUEST_TIMEOUT_SECONDS
    """Seconds each request may take, connecting and answering."""
    last_request: str | None = None
    """The request sent last, e.g. ``GET /api/v1/namespaces/blog/pods?...``: what a message about
    its failure names."""
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)
    batch: client.BatchV1Api = field(init=False)
    policy: client.PolicyV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.policy = client.PolicyV1Api(self.api)
        send = self.api.call_api

        def call_api(method: str, url: str, *args, **kwargs):
            parts = urlsplit(url)
            self.last_request = f"{method} {unquote(parts.path)}{'?' + unquote(parts.query) if parts.query else ''}"
            return send(method, url, *args, **kwargs)

        self.api.call_api = call_api
        rest = self.api.rest_client
        receive = rest.request

        def request(*args, **kwargs):
            # The answer, read whole but capped, in place of the stream the client would read
            # unbounded: what RESTResponse.read() and, with _preload_content=False, a runbook's
            # ``.data`` return. Its headers lose the encoding and length of the bytes it no longer holds.
            answer = receive(*args, **kwargs)
            body = read_capped(answer.response)
            kept = {k: v for k, v in answer.response.headers.items() if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")}
            read = RESTResponse(urllib3.HTTPResponse(body=body, headers=kept, status=answer.status, reason=answer.reason, preload_content=False))
            read.data = body
            return read

        rest.request = request

    @property
    def where(self) -> str:
        return f"{self.api.configuration.host} (context {self.context})"


def connect(
    kubeconfig_path: str | None, context: str | None, from_stack: str | None,
    timeout: float = REQUEST_TIMEOUT_SECONDS, kubeconfig_from: str = "--kubeconfig",
) -> Kube:
    """A client for the cluster: the standard kubeconfig (``--kubeconfig``/KUBECONFIG, current or
    ``--context``), or the kubeconfig output of a stack (``--from-stack``, via the Pulumi CLI).
    ``kubeconfig_from`` says where ``kubeconfig_path`` came from (``--kubeconfig``, ``KUBECONFIG``),
    for a message about it."""
    if from_stack:
        kubeconfig_path, tried = _stack_kubeconfig(from_stack), f"--from-stack {from_stack}"
        advice = f"check the stack's kubeconfig output, or {GET_CREDENTIALS} and leave --from-stack out"
    elif kubeconfig_path:
        tried = kubeconfig_from
        advice = f"check that path, or {GET_CREDENTIALS} (it writes ~/.kube/config) and " + (
            "unset KUBECONFIG" if kubeconfig_from == "KUBECONFIG" else "leave --kubeconfig out"
        )
    else:
        kubeconfig_path, tried = os.path.expanduser(kubeconfig.KUBE_CONFIG_DEFAULT_LOCATION), "the default location"
        advice = f"{GET_CREDENTIALS} (it writes ~/.kube/config), or pass --kubeconfig <file> or --from-stack <stack>"
    paths = [path for path in kubeconfig_path.split(os.pathsep) if path]
    if not any(Path(path).expanduser().is_file() for path in paths):
        raise CannotCheck(f"no kubeconfig at {', '.join(paths) or repr(kubeconfig_path)} (from {tried}); {advice}")
    configuration = client.Configuration()

    def load() -> tuple:
        kubeconfig.load_kube_config(config_file=kubeconfig_path, context=context, client_configuration=configuration, persist_config=False)
        return kubeconfig.list_kube_config_contexts(config_file=kubeconfig_path)

    try:
        contexts, current = within(timeout, load)
    except DeadlinePassed:
        raise CannotCheck(_one_line(
            f"reading the kubeconfig {kubeconfig_path} (from {tried}) did not finish within {timeout:g} s (--request-timeout): "
            "its exec credential plugin (users[].user.exec, e.g. gke-gcloud-auth-plugin) does not answer; run that command by hand "
            f"to see what it waits for, or {GET_CREDENTIALS}"
        )) from None
    except (kubeconfig.ConfigException, OSError, ValueError, TypeError, AttributeError, KeyError, LookupError, RecursionError, yaml.YAMLError) as e:
        raise CannotCheck(_one_line(
            f"the kubeconfig {kubeconfig_path} (from {tried}) is not usable: {_clip(str(e))}; "
            f"{GET_CREDENTIALS}, or pass --context naming one of its contexts"
        )) from None
    if context is None and (not isinstance(current, dict) or "name" not in current):
        raise CannotCheck(f"the kubeconfig {kubeconfig_path} (from {tried}) names no current context; {GET_CREDENTIALS}, or pass --context naming one of its contexts")
    # No retry: a request that fails or hangs is reported within the timeout, not after minutes.
    # (The pool is built with the client, so this is set before it is.)
    configuration.retries = False
    return Kube(client.ApiClient(configuration), context=context or current["name"], timeout=timeout)


GET_CREDENTIALS = "run `gcloud container clusters get-credentials <cluster> --zone <zone>` (the stack's cluster_name and zone outputs)"


def _stack_kubeconfig(stack: str) -> str:
    if shutil.which("pulumi") is None:
        raise CannotCheck(
            f"--from-stack {stack} reads the stack's kubeconfig output with the Pulumi CLI, and there is no `pulumi` on PATH: "
            f"install it (https://www.pulumi.com/docs/iac/download-install/) and `pulumi login`, or {GET_CREDENTIALS} and use --context"
        )
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "kubeconfig", "--show-secrets", f"--stack={stack}"],
            capture_output=True, text=True, check=True, timeout=120,
        )
    except subprocess.CalledProcessError as e:
        raise CannotCheck(_one_line(
            f"`pulumi stack output kubeconfig --stack={stack}` failed ({e.stderr.strip() or f'exit {e.returncode}'}); "
            f"check `pulumi login` and the stack name (`pulumi stack ls`), or {GET_CREDENTIALS} and use --context"
        )) from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CannotCheck(f"could not read stack {stack}'s kubeconfig output with the Pulumi CLI: {e}") from None
    path = Path.home() / ".cache" / "shoestring" / f"kubeconfig-{stack.replace('/', '_')}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.stdout)
    path.chmod(0o600)
    return str(path)


@dataclass
class Session:
    """One walk through a runbook: numbered steps, each announced and (unless --yes) confirmed."""

    target: Target
    kube: Kube
    console: Console
    assume_yes: bool
    steps_total: int
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """What a step could not look at, while the others could (e.g. an unreachable git host)."""
    pending: list[str] = field(default_factory=list)
    """What is expected to resolve on its own (a triggered scale-up, a rollout in progress)."""
    next_commands: list[str] = field(default_factory=list)
    """Commands the engineer should run next, printed with the verdict."""
    steps: list[dict] = field(default_factory=list)
    """Each step and what it found, for --json."""
    success: str = "healthy — nothing to do."
    """The verdict line when no problem was reported."""
    _step: int = 0

    def step(self, title: str, run: Callable[[], None], changes: bool = False) -> None:
        """Announce and run one step. A step that ``changes`` the cluster is asked with "No" as the
        answer on Enter; a step that only looks, with "Yes"."""
        self._step += 1
        self.steps.append({"step": self._step, "title": title, "findings": []})
        self.console.rule(f"[bold]Step {self._step}/{self.steps_total}: {title}")
        prompt = "Run this step? It changes the cluster" if changes else "Run this step?"
        if not self.assume_yes and not click.confirm(prompt, default=not changes):
            raise StoppedByUser(f"stopped before step {self._step} ({title}) as asked; nothing was changed")
        try:
            run()
        except (CannotCheck, StoppedByUser):
            raise
        except (AttributeError, TypeError, KeyError, ValueError) as e:
            # A field the runbook reads is missing or of another type in an object the API server
            # sent (the client accepts objects without status, metadata...): the answer is not one
            # on-call can judge. ON_CALL_DEBUG=1 shows where, should it be on-call's own bug.
            if os.environ.get("ON_CALL_DEBUG") or self.kube.last_request is None:
                raise
            raise CannotCheck(_one_line(
                f"the API server at {self.kube.where} sent an object on-call cannot read (after {self.kube.last_request}: "
                f"{type(e).__name__}: {e}); check that the kubeconfig's server is the cluster's API server and not a proxy in between; "
                f"should `kubectl get --raw` show a well-formed object, report this with the output of ON_CALL_DEBUG=1 on-call ..."
            )) from None

    def ok(self, message: str) -> None:
        self._found("ok", message)
        self.console.print(f"  [green]✓[/green] {message}")

    def info(self, message: str) -> None:
        self._found("info", message)
        self.console.print(f"  {message}")

    def cannot_check(self, message: str) -> None:
        self.unchecked.append(message)
        self._found("cannot check", message)
        self.console.print(f"  [yellow]?[/yellow] {message}")

    def problem(self, message: str, next_command: str | None = None) -> None:
        self.problems.append(message)
        self._found("problem", message)
        self.console.print(f"  [red]✗[/red] {message}")
        self.suggest(next_command)

    def waiting(self, message: str) -> None:
        self.pending.append(message)
        self._found("waiting", message)
        self.console.print(f"  [cyan]…[/cyan] {message}")

    def suggest(self, command: str | None) -> None:
        if command and command not in self.next_commands:
            self.next_commands.append(command)
            self.console.print(f"    next: [bold]{command}[/bold]", markup=True, highlight=False)

    def _found(self, kind: str, message: str) -> None:
        if self.steps:
            self.steps[-1]["findings"].append({"kind": kind, "message": message})

    def call(self, method: Callable, *args, missing_ok: bool = False, **kwargs):
        """A Kubernetes API call within the session's timeout. Whatever goes wrong ends the walk as
        "cannot check" (exit 2), naming the server, the request and what to do: a 401 or 403 the
        permission it needed; any other status, a hung or reset connection or an answer that is
        not the object asked for, what that means. With ``missing_ok`` a 404 returns None."""
        try:
            return within(self.kube.timeout, lambda: method(*args, _request_timeout=self.kube.timeout, **kwargs))
        except client.ApiException as e:
            if e.status == 404 and missing_ok:
                return None
            if e.status in (401, 403):
                raise CannotCheck(_refused(e, method.__name__, args, self.kube)) from None
            what, advice = _failed(e, self.kube)
            raise CannotCheck(_one_line(f"{what}; {advice}"), what=_one_line(what)) from None
        except (urllib3.exceptions.HTTPError, OSError, DeadlinePassed) as e:
            raise CannotCheck(_one_line(_no_answer(e, self.kube))) from None
        except AnswerTooLarge as e:
            raise CannotCheck(_one_line(
                f"the API server at {self.kube.where} answered {self.kube.last_request} with more than on-call reads ({e}; at most "
                f"{MAX_ANSWER_BYTES // 2**20} MiB): is the kubeconfig's server the cluster's API server, and not a proxy in between? "
                f"Check it with `kubectl --context {self.kube.context} get --raw /version`"
            )) from None
        except (ValueError, TypeError, AttributeError, KeyError, LookupError, RecursionError) as e:
            raise CannotCheck(_one_line(
                f"the API server at {self.kube.where} answered {self.kube.last_request} with a body that is not the Kubernetes object "
                f"asked for ({type(e).__name__}: {_clip(str(e))}); is the kubeconfig's server the cluster's API server, and not a proxy "
                f"or captive portal in between? Check it with `kubectl --context {self.kube.context} get --raw /version`"
            )) from None


UNAVAILABLE = (
    "the control plane is failing or unavailable: a zonal cluster's single control plane is down while GKE upgrades or "
    "repairs it (`gcloud container operations list` shows it); run on-call again in a few minutes"
)


def _failed(error: client.ApiException, kube: Kube) -> tuple[str, str]:
    """What a status other than 2xx, 401 and 403 means, for the request it answered: what
    happened, and what to do."""
    said = _status_message(error)
    status = f"{error.status} {error.reason or ''}".strip() if error.status else f"an unreadable answer ({error.reason})"
    request = kube.last_request or "a request"
    write = request.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")
    if error.status == 404:
        advice = (
            "the namespace or the resource type does not exist in this cluster: is the stack deployed (`pulumi up`), and is "
            f"context {kube.context} its cluster?"
        )
    elif error.status == 409:
        advice = "someone else (another on-call run, a controller) changed the object meanwhile; look again, and run on-call again"
    elif error.status in (400, 422):
        advice = (
            "the API server rejected what on-call sent" if write else "the API server rejected the request"
        ) + " (an admission policy, or a bug in on-call: report it with this message)"
    elif error.status == 429:
        advice = "the API server is throttling requests; run on-call again in a minute"
    elif error.status and error.status >= 500:
        advice = UNAVAILABLE
    elif not error.status:
        advice = f"is the kubeconfig's server the cluster's API server? Check it with `kubectl --context {kube.context} get --raw /version`"
    else:
        advice = "run on-call again; if it persists, check the cluster with kubectl"
    return f"the API server at {kube.where} answered {request} with {status}{f': {said}' if said else ''}", advice


def _no_answer(error: Exception, kube: Kube) -> str:
    """A request that got no answer: refused, timed out, or its connection reset."""
    request = kube.last_request or "a request"
    cause = getattr(error, "reason", None) or error
    if isinstance(cause, urllib3.exceptions.TimeoutError) or isinstance(error, urllib3.exceptions.TimeoutError | DeadlinePassed):
        why = f"no answer to {request} within {kube.timeout:g} s (--request-timeout)"
        advice = (
            "the control plane may be overloaded, or down while GKE upgrades or repairs it (`gcloud container operations list` "
            "shows it), or the network path to it is down (a VPN?); run on-call again in a few minutes, or with a larger --request-timeout"
        )
    elif isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        why = f"{request} could not connect ({_clip(str(cause))})"
        advice = f"check your network, or {GET_CREDENTIALS}"
    else:
        why = f"the connection broke during {request} ({type(cause).__name__}: {_clip(str(cause))})"
        advice = "check your network (a VPN or proxy dropping connections?), and run on-call again"
    return f"the cluster at {kube.where} does not answer: {why}; {advice}"


def _status_message(error: client.ApiException) -> str:
    """The message of the Status object the API server sends with an error, else the body's start."""
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body or ""
    try:
        said = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        said = f"(not a Kubernetes Status: {_clip(body)!r})" if body.strip() else ""
    return _clip(said)


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split(" For further information visit https://errors.pydantic.dev")[0].split())
    return text if len(text) <= limit else text[:limit] + "…"


def _one_line(message: str) -> str:
    """One paragraph: whitespace (a server's multi-line message) collapsed."""
    return " ".join(message.split())


def _refused(error: client.ApiException, method: str, args: tuple, kube: Kube) -> str:
    """What a 401 or 403 means and what to do, for the API call ``method`` (e.g. list_namespaced_pod)."""
    where = kube.where
    if error.status == 401:
        return f"the API server at {where} rejected the credentials (401 Unauthorized): they are missing or expired; {GET_CREDENTIALS}"
    verb, resource = _permission(method)
    # The generated client takes (namespace, ...) to list or create, (name, namespace, ...) otherwise.
    namespace = "" if "namespaced" not in method else args[0] if method.startswith(("list_", "create_")) else args[1]
    said = _status_message(error)
    detail = f": {said}" if said else ""
    scope = f" in namespace {namespace}" if namespace else ""
    return (
        f"the API server at {where} refused (403 Forbidden{detail}); the identity needs permission to {verb} {resource}{scope} "
        f"(e.g. roles/container.developer on the project, or a RoleBinding in the namespace)"
    )


def _permission(method: str) -> tuple[str, str]:
    """('list', 'pods') from list_namespaced_pod, ('create', 'jobs') from create_namespaced_job."""
    verb, _, rest = method.partition("_")
    noun = rest.removeprefix("namespaced_").removesuffix("_for_all_namespaces")
    if noun.endswith("_log"):
        return "get", "pods/log"
    return verb.replace("read", "get"), noun.replace("_", "") + "s"
