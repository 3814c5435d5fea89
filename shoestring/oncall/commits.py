"""The deployed commit against the branch's latest, with plain git: `git ls-remote` works for any
host, and public repositories need no token.

What a definition says is data, never a command: a repository is refused unless it is an
``https://``, ``ssh://`` or ``git@host:path`` URL, and every value handed to git comes after
``--`` (or ``--end-of-options``), so none can become an option such as ``--upload-pack=<cmd>``."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from urllib.parse import urlsplit


class GitError(Exception):
    pass


class RefusedRepository(GitError):
    """A repository on-call will not hand to git: it could be read as an option or a transport."""


_SCP_LIKE = re.compile(r"git@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~/][A-Za-z0-9._~/+-]*")


def check_repository(repository: str) -> str:
    """The repository, if it is an https://, ssh:// or git@host:path URL; else RefusedRepository."""
    if repository.startswith("-") or any(c.isspace() or not c.isprintable() for c in repository):
        raise RefusedRepository(f"refused repository {repository!r}: it could be read as an option or a command")
    if _SCP_LIKE.fullmatch(repository):
        return repository
    parts = urlsplit(repository)
    if parts.scheme in ("https", "ssh") and parts.hostname and not parts.hostname.startswith("-"):
        return repository
    raise RefusedRepository(f"refused repository {repository!r}: on-call reads only https://, ssh:// or git@host:path repositories")


def branch_head(repository: str, branch: str) -> str:
    """The sha the branch points at in the repository."""
    output = _git("ls-remote", "--", check_repository(repository), f"refs/heads/{branch}")
    if not output.strip():
        raise GitError(f"{repository} has no branch {branch!r}")
    return output.split()[0]


def is_commit(tag: str) -> bool:
    """Whether an image tag can name a commit: 7 to 40 hexadecimal characters."""
    return 7 <= len(tag) <= 40 and all(c in "0123456789abcdef" for c in tag.lower())


def same_commit(tag: str, sha: str) -> bool:
    """An image tag names a commit by its full sha or a prefix of at least 7 characters."""
    return len(tag) >= 7 and sha.startswith(tag.lower())


def which_is_newer(repository: str, branch: str, deployed: str, latest: str) -> str | None:
    """'deployed is N commits behind the branch' or 'ahead of' it, when the history tells; else None."""
    with tempfile.TemporaryDirectory(prefix="on-call-") as tmp:
        try:
            _git("init", "--quiet", "--bare", "--", tmp)
            # Commit graph only, no file contents: cheap even for a large repository.
            _git("-C", tmp, "fetch", "--quiet", "--filter=blob:none", "--", check_repository(repository), f"refs/heads/{branch}")
            # rev-parse and rev-list read `--` as the start of paths: --end-of-options ends the options.
            full = _git("-C", tmp, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{deployed}^{{commit}}").strip()
            behind = int(_git("-C", tmp, "rev-list", "--count", "--end-of-options", f"{full}..{latest}"))
            ahead = int(_git("-C", tmp, "rev-list", "--count", "--end-of-options", f"{latest}..{full}"))
        except (GitError, ValueError):
            return None
    if behind and not ahead:
        return f"the deployed commit is {behind} commit{'s' if behind != 1 else ''} behind {branch}"
    if ahead and not behind:
        return f"the deployed commit is {ahead} commit{'s' if ahead != 1 else ''} ahead of {branch} (not on it yet, or force-pushed away)"
    return None


def _git(*args: str) -> str:
    try:
        # Never hang on a password prompt: a private repository without credentials is an error.
        result = subprocess.run(["git", *args], capture_output=True, text=True, env=os.environ | {"GIT_TERMINAL_PROMPT": "0"}, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(str(e)) from None
    if result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed")
    return result.stdout
