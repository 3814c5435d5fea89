"""Releases: a new build's `<commit>@sha256:<digest>` written on one line where the stack reads it
(`python -m shoestring release`), moved from staging to prod (`promote`), refused — with nothing
written — when it could deploy other bytes than the app's CI built, or land nowhere."""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from program import config
from shoestring import diff, offline, release
from shoestring.__main__ import cli
from shoestring.release import ReleaseRefused

COMMIT = "4f1e2d3c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"
DIGEST = "sha256:" + "5e" * 32
TAG = f"{COMMIT}@{DIGEST}"
DEFINED = "9c4e1f2a7b3d@sha256:03add99eadf5b71fa26a01a230a9674cd5c8d2048ac4123b66cd1aeadc3353c0"
"""blog/frontend's tag in projects/blog.yaml, which staging and prod deploy."""


@pytest.fixture
def root(tmp_path) -> Path:
    """What a release reads and writes, copied: Pulumi.yaml, stacks/ and projects/."""
    shutil.copy(offline.ROOT / "Pulumi.yaml", tmp_path)
    shutil.copytree(offline.ROOT / "stacks", tmp_path / "stacks")
    shutil.copytree(offline.ROOT / "projects", tmp_path / "projects", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def changed_lines(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """Per changed file, its removed and added lines (`-...`, `+...`)."""
    return {
        name: [line for line in difflib.unified_diff(before[name].splitlines(), after[name].splitlines(), lineterm="", n=0) if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        for name in before
        if before[name] != after[name]
    }


class TestRelease:
    def test_a_release_to_staging_is_one_line_of_its_stack_file_and_staging_alone_deploys_it(self, root):
        before = snapshot(root)
        made = release.release("blog/frontend", TAG, "staging", root)
        lines = changed_lines(before, snapshot(root))
        assert list(lines) == ["stacks/Pulumi.staging.yaml"]
        assert lines["stacks/Pulumi.staging.yaml"] == [
            "-        frontend: {replicas: 1, hosts: [staging.blog.example.com]}",
            f'+        frontend: {{replicas: 1, hosts: [staging.blog.example.com], tag: "{TAG}"}}',
        ]
        assert release.deployed_tag("blog/frontend", "staging", root) == TAG
        assert release.deployed_tag("blog/frontend", "prod", root) == DEFINED
        assert made.describe(root) == f"blog/frontend 9c4e1f2a7b3d@sha256:03add99e… → {COMMIT[:12]}@sha256:5e5e5e5e… in staging (stacks/Pulumi.staging.yaml)"

    def test_a_stack_file_with_windows_line_endings_keeps_them_and_changes_one_line(self, root):
        path = root / "stacks" / "Pulumi.staging.yaml"
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        before = path.read_bytes().split(b"\r\n")
        release.release("blog/frontend", TAG, "staging", root)
        after = path.read_bytes().split(b"\r\n")
        assert b"\n" not in b"".join(after)
        assert len(after) == len(before) and sum(a != b for a, b in zip(after, before)) == 1

    def test_a_tag_the_stack_file_already_sets_is_replaced_in_place_keeping_its_quotes(self, root):
        before = snapshot(root)
        release.release("blog/frontend", TAG, "dev", root)
        (removed, added), = changed_lines(before, snapshot(root)).values()
        assert removed.replace("0a7d3e5b1c9f@sha256:f6afa10e9831c6b80ce654974c8a232a52b1b00eba9e698f59faba1e556e417b", TAG) == "-" + added[1:]

    def test_a_block_map_gets_the_missing_keys_as_one_line_above_its_first_key(self, root):
        # prod's ml has per-app values only: the embed batch's tag is a new `batches:` line.
        before = snapshot(root)
        release.release("ml/embed", TAG, "prod", root)
        assert changed_lines(before, snapshot(root)) == {"stacks/Pulumi.prod.yaml": [f'+      batches: {{embed: {{tag: "{TAG}"}}}}']}
        assert release.deployed_tag("ml/embed", "prod", root) == TAG

    def test_a_stack_file_without_per_project_values_gets_them_as_its_last_line(self, root):
        staging = root / "stacks" / "Pulumi.staging.yaml"
        text = staging.read_text()
        staging.write_text(text[: text.index("  shoestring:projects:")])
        before = snapshot(root)
        release.release("blog/frontend", TAG, "staging", root)
        assert snapshot(root)["stacks/Pulumi.staging.yaml"] == before["stacks/Pulumi.staging.yaml"] + f'  shoestring:projects: {{blog: {{apps: {{frontend: {{tag: "{TAG}"}}}}}}}}\n'
        assert release.deployed_tag("blog/frontend", "staging", root) == TAG

    def test_releasing_the_tag_a_stack_already_deploys_changes_nothing(self, root):
        before = snapshot(root)
        made = release.release("blog/frontend", DEFINED, "prod", root)
        assert snapshot(root) == before and not made.changed
        assert "already runs" in made.describe(root)

    def test_stack_all_changes_the_definitions_line_and_names_the_stacks_that_keep_their_own(self, root):
        before = snapshot(root)
        made = release.release("blog/frontend", TAG, "all", root)
        assert changed_lines(before, snapshot(root)) == {"projects/blog.yaml": [f"-    tag: {DEFINED}", f"+    tag: {TAG}"]}
        assert made.unaffected == ("dev",)  # dev's stack file sets blog/frontend's tag
        assert release.deployed_tag("blog/frontend", "prod", root) == TAG

    def test_stack_all_keeps_the_tag_lines_quotes_and_comment(self, root):
        blog = root / "projects" / "blog.yaml"
        blog.write_text(blog.read_text().replace(f"    tag: {DEFINED}\n", f'    tag: "{DEFINED}"  # built by acme/blog CI\n'))
        before = snapshot(root)
        release.release("blog/frontend", TAG, "all", root)
        assert changed_lines(before, snapshot(root))["projects/blog.yaml"][1] == f'+    tag: "{TAG}"  # built by acme/blog CI'

    def test_stack_all_refuses_a_tag_other_workloads_alias_writing_nothing(self, root):
        # An anchored tag is one node: editing it would move every app that aliases it.
        blog = root / "projects" / "blog.yaml"
        text = blog.read_text().replace(f"    tag: {DEFINED}\n", f"    tag: &built {DEFINED}\n", 1)
        blog.write_text(re.sub(r"(name: backend\n(?:    .*\n)*?    tag: )\S+", r"\1*built", text, count=1))
        before = snapshot(root)
        with pytest.raises(ReleaseRefused, match="would change other tags than blog/frontend's"):
            release.release("blog/frontend", TAG, "all", root)
        assert snapshot(root) == before

    @pytest.mark.parametrize(
        ("tag", "says"),
        [
            (COMMIT, "has no digest"),
            ("4f1e2dz@" + DIGEST, "the commit '4f1e2dz' is not 7 to 40 lowercase hex characters"),
            ("4f1e2d@" + DIGEST, "the commit '4f1e2d' is not 7 to 40"),
            (f"{COMMIT}@sha256:{'5e' * 31}", "is not sha256: and 64 lowercase hex characters (62 given)"),
            (f"{COMMIT}@sha512:{'5e' * 32}", "is not sha256:"),
            (f"{COMMIT.upper()}@{DIGEST}", "is not 7 to 40 lowercase hex"),
        ],
    )
    def test_a_tag_that_is_not_a_commit_and_its_sha256_digest_is_refused_writing_nothing(self, root, tag, says):
        before = snapshot(root)
        with pytest.raises(ReleaseRefused, match="give --tag <commit>@sha256:<digest>") as refused:
            release.release("blog/frontend", tag, "staging", root)
        assert says in str(refused.value)
        assert snapshot(root) == before

    @pytest.mark.parametrize(
        ("name", "stack", "says"),
        [
            ("blg/frontend", "staging", "no project 'blg' in projects/; projects: blog, ml"),
            ("blog/frontnd", "staging", "project blog has no app or batch 'frontnd'; it has blog/frontend, blog/backend"),
            ("frontend", "staging", "name the app as PROJECT/APP"),
            ("blog/frontend", "qa", "no stack 'qa'; stacks: dev, prod, staging, or `all`"),
            ("ml/worker", "staging", "stack staging does not run project ml"),
        ],
    )
    def test_an_unknown_project_app_or_stack_or_one_that_does_not_run_it_is_refused_writing_nothing(self, root, name, stack, says):
        staging = root / "stacks" / "Pulumi.staging.yaml"
        staging.write_text(staging.read_text().replace("    ml:\n", "    ml:\n      enabled: false\n"))
        before = snapshot(root)
        with pytest.raises(ReleaseRefused) as refused:
            release.release(name, TAG, stack, root)
        assert says in str(refused.value)
        assert snapshot(root) == before

    def test_the_command_refuses_without_a_traceback_and_exits_1(self):
        result = CliRunner().invoke(cli, ["release", "blog/frontend", "--tag", COMMIT, "--stack", "staging"])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert result.output.startswith(f"Error: tag '{COMMIT}' has no digest") and "Traceback" not in result.output


class TestPromote:
    def test_prod_gets_exactly_the_commit_and_digest_staging_declares(self, root):
        release.release("blog/frontend", TAG, "staging", root)
        before = snapshot(root)
        made = release.promote("blog/frontend", "staging", "prod", root)
        assert list(changed_lines(before, snapshot(root))) == ["stacks/Pulumi.prod.yaml"]
        assert release.deployed_tag("blog/frontend", "prod", root) == TAG == made.new

    def test_a_staging_that_does_not_run_the_app_is_a_clear_refusal(self, root):
        staging = root / "stacks" / "Pulumi.staging.yaml"
        staging.write_text(staging.read_text().replace("    blog:\n", "    blog:\n      enabled: false\n"))
        before = snapshot(root)
        with pytest.raises(ReleaseRefused, match="stack staging does not run project blog"):
            release.promote("blog/frontend", "staging", "prod", root)
        assert snapshot(root) == before

    def test_a_staging_tag_without_a_digest_is_not_promoted(self, root):
        staging = root / "stacks" / "Pulumi.staging.yaml"
        staging.write_text(staging.read_text().replace("frontend: {replicas: 1,", 'frontend: {replicas: 1, tag: "9c4e1f2a7b3d",'))
        before = snapshot(root)
        with pytest.raises(ReleaseRefused, match="staging deploys blog/frontend as '9c4e1f2a7b3d', without a digest"):
            release.promote("blog/frontend", "staging", "prod", root)
        assert snapshot(root) == before


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_in_a_fresh_copy_a_release_reaches_staging_alone_and_make_diff_names_it_first(tmp_path):
    # The acceptance, as a user runs it: the CLI in a clone, then the plans and the diff.
    copy = tmp_path / "clone"
    files = git(offline.ROOT, "ls-files", "--cached", "--others", "--exclude-standard").split()
    for name in files:
        if (offline.ROOT / name).is_file() and not (offline.ROOT / name).is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(offline.ROOT / name, copy / name)
    git(copy, "init", "--quiet")
    git(copy, "add", "-A")
    git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "base")

    def shoestring(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shoestring", *args], cwd=copy, capture_output=True, text=True)

    done = shoestring("release", "blog/frontend", "--tag", TAG, "--stack", "staging")
    assert done.returncode == 0, done.stderr
    (numstat,) = git(copy, "diff", "--numstat").splitlines()
    added, removed, path = numstat.split("\t")
    assert path == "stacks/Pulumi.staging.yaml" and int(added) + int(removed) <= 2

    def frontend_image(stack: str) -> str:
        plan = json.loads(shoestring("plan", "--stack", stack, "--json").stdout)
        (deployment,) = [r for r in plan["resources"] if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"]["name"] == "frontend"]
        return deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"]

    assert frontend_image("staging") == f"ghcr.io/acme/blog-frontend:{TAG}"
    assert frontend_image("prod") == f"ghcr.io/acme/blog-frontend:{DEFINED}"
    report = shoestring("diff", "--base", "HEAD")
    assert report.returncode == 0, report.stderr
    first = "\n".join(report.stdout.splitlines()[:6])
    assert "blog/frontend" in first and COMMIT[:12] in first and "staging" in first, report.stdout


class TestReviewing:
    def staging_released(self, plans, tag: str = TAG) -> dict:
        """Every stack's records, staging's planned again with blog/frontend's tag set in its stack file."""
        raw, secrets, _ = config.read_stack_files("staging")
        projects = json.loads(raw["shoestring:projects"])
        projects["blog"]["apps"]["frontend"]["tag"] = tag
        after = offline.run("staging", config=raw | {"shoestring:projects": json.dumps(projects)}, secret_keys=secrets)
        return {stack: plan.records for stack, plan in plans.items()} | {"staging": after.records}

    def test_make_diff_puts_the_image_change_first_old_commit_to_new_digest_and_the_deployment_that_rolls(self, plans):
        before = {stack: plan.records for stack, plan in plans.items()}
        report = diff.markdown(diff.compare(before, self.staging_released(plans)), "origin/main")
        assert report.splitlines()[2:5] == [
            "**Images:**",
            f"- `staging`: **blog/frontend** `9c4e1f2a7b3d` → `{COMMIT[:12]}` (digest changed) — rolls Deployment blog-staging/frontend: 1 pod restarts",
            "",
        ]

    def test_a_tag_without_a_digest_is_flagged_in_the_image_line(self, plans):
        before = {stack: plan.records for stack, plan in plans.items()}
        (staging,) = [d for d in diff.compare(before, self.staging_released(plans, COMMIT)) if d.stack == "staging"]
        (change,) = staging.images
        assert "**no digest pinned**" in change.markdown("staging")
        assert change.to_json() == {
            "workload": "blog/frontend", "kind": "Deployment", "object": "blog-staging/frontend",
            "old": f"ghcr.io/acme/blog-frontend:{DEFINED}", "new": f"ghcr.io/acme/blog-frontend:{COMMIT}", "pods": 1,
        }

    @pytest.mark.parametrize(
        ("reference", "parts"),
        [
            (f"ghcr.io/acme/blog-frontend:{TAG}", ("ghcr.io/acme/blog-frontend", COMMIT, DIGEST)),
            ("localhost:5000/blog:9c4e1f2", ("localhost:5000/blog", "9c4e1f2", "")),
            ("localhost:5000/blog", ("localhost:5000/blog", "", "")),
            (f"ghcr.io/acme/blog@{DIGEST}", ("ghcr.io/acme/blog", "", DIGEST)),
        ],
    )
    def test_an_image_reference_splits_as_distribution_reference_reads_it(self, reference, parts):
        image = release.Image.parse(reference)
        assert (image.repository, image.commit, image.digest) == parts and str(image) == reference


class TestReleaseWorkflow:
    """.github/workflows/release.yml: what an app repository's dispatch (or a person) starts."""

    workflow = yaml.safe_load((offline.ROOT / ".github" / "workflows" / "release.yml").read_text())

    def steps(self) -> list[dict]:
        return self.workflow["jobs"]["release"]["steps"]

    def test_it_is_started_by_hand_or_by_an_app_repositorys_dispatch_with_project_app_tag_and_stack(self):
        triggers = self.workflow[True]  # YAML reads `on` as true
        assert set(triggers["workflow_dispatch"]["inputs"]) == {"project", "app", "tag", "stack"}
        assert triggers["repository_dispatch"] == {"types": ["release"]}
        env = self.workflow["jobs"]["release"]["env"]
        assert env == {key.upper(): f"${{{{ inputs.{key} || github.event.client_payload.{key} }}}}" for key in ("project", "app", "tag", "stack")}

    def test_its_token_can_push_the_pull_requests_branch_and_open_it_and_nothing_else(self):
        assert self.workflow["permissions"] == {}
        assert self.workflow["jobs"]["release"]["permissions"] == {"contents": "write", "pull-requests": "write"}
        assert "secrets." not in yaml.safe_dump(self.workflow)

    def test_it_runs_the_release_command_on_the_payload_passed_as_values_and_stops_when_it_refuses(self):
        (release_step,) = [s for s in self.steps() if s.get("id") == "release"]
        (line,) = [line for line in release_step["run"].splitlines() if "shoestring release" in line]
        assert line.strip() == '.venv/bin/python -m shoestring release "$PROJECT/$APP" --tag "$TAG" --stack "$STACK" > "$RUNNER_TEMP/released.txt"'
        # Unspecified, a step's shell is `bash -e {0}`: without pipefail, a refusal piped into tee would pass.
        assert self.workflow["jobs"]["release"]["defaults"] == {"run": {"shell": "bash"}}

    def test_it_opens_one_pull_request_per_app_and_stack_carrying_the_tag_alone_described_by_make_diff(self):
        (report,) = [s for s in self.steps() if s.get("id") == "report"]
        assert "make --silent diff BASE=HEAD" in report["run"] and '> "$RUNNER_TEMP/release-report.md"' in report["run"]
        (pull,) = [s for s in self.steps() if s.get("uses", "").startswith("peter-evans/create-pull-request@")]
        assert pull["with"]["branch"] == "release/${{ env.PROJECT }}/${{ env.APP }}/${{ env.STACK }}"
        assert pull["with"]["add-paths"].split() == ["stacks/*.yaml", "projects/*"]  # what `release` writes, nothing else
        assert pull["with"]["body-path"] == "${{ runner.temp }}/release-report.md"  # outside the checkout
        assert self.steps().index(report) < self.steps().index(pull)


class TestRenovate:
    """renovate.json: what others publish is kept current; first-party app tags are the release's."""

    renovate = json.loads((offline.ROOT / "renovate.json").read_text())

    def test_the_tunnel_connectors_image_is_found_with_its_tag_and_digest(self):
        from program.components import public_entry

        (manager,) = self.renovate["customManagers"]
        (pattern,) = manager["matchStrings"]
        (files,) = manager["managerFilePatterns"]
        assert re.fullmatch(files.strip("/"), "program/components/public_entry.py")
        # Renovate's patterns are ECMAScript (RE2): named groups are (?<name>...), Python's (?P<name>...).
        found = re.search(pattern.replace("(?<", "(?P<"), (offline.ROOT / "program/components/public_entry.py").read_text())
        assert found, "the connector's image is no longer where renovate.json looks for it"
        image = release.Image.parse(public_entry.CLOUDFLARED_IMAGE)
        assert found.groupdict() == {"depName": public_entry.CLOUDFLARED_REPOSITORY, "currentValue": image.commit, "currentDigest": image.digest}
        assert manager["datasourceTemplate"] == "docker"

    def test_it_leaves_alone_every_file_a_release_writes(self, root):
        # Renovate reads commit-sha tags as unversioned (renovatebot/renovate#6913); they move by release.
        written = set()
        for stack in ("staging", "all"):
            written.add(str(release.release("blog/frontend", TAG, stack, root).path.relative_to(root)))
        assert written == {"stacks/Pulumi.staging.yaml", "projects/blog.yaml"}
        assert all(any(fnmatch.fnmatch(path, glob) for glob in self.renovate["ignorePaths"]) for path in written)

    def test_it_updates_the_action_pins_of_the_docs_example_workflows_too(self):
        (extra,) = self.renovate["github-actions"]["managerFilePatterns"]
        assert re.fullmatch(extra.strip("/"), "docs/examples/app-release.yml")
        assert "helpers:pinGitHubActionDigestsToSemver" in self.renovate["extends"]  # sha pins with `# vX.Y.Z`, as the workflow tests want
