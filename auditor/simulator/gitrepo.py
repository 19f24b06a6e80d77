"""A real git repository behind each simulated project.

Ancestry, merge bases, cherry-picks of merge commits and "same patch" are git's semantics;
the simulator asks git rather than imitating it. Dates and identities come from the world,
so the same world always yields the same SHAs.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class GitError(Exception):
    pass


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class GitCommit:
    id: str
    parent_ids: tuple[str, ...]
    title: str
    message: str
    author_name: str
    author_email: str
    authored_date: datetime
    committer_name: str
    committer_email: str
    committed_date: datetime


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class GitRepo:
    """One non-bare repository; writes go through a work tree, reads through plumbing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._run("init", "-q", "-b", "main")
        self._run("config", "commit.gpgsign", "false")
        self._cache: dict[str, GitCommit] = {}

    # -- plumbing -------------------------------------------------------------------------
    def _run(
        self,
        *args: str,
        at: datetime | None = None,
        who: Person | None = None,
        check: bool = True,
        input: str | None = None,
    ) -> str:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": who.name if who else "Simulator",
            "GIT_AUTHOR_EMAIL": who.email if who else "simulator@example.com",
            "GIT_COMMITTER_NAME": who.name if who else "Simulator",
            "GIT_COMMITTER_EMAIL": who.email if who else "simulator@example.com",
            "LC_ALL": "C",
        }
        if at is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = _iso(at)
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            input=input,
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def _write(self, files: dict[str, str | None]) -> None:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                if target.exists():
                    self._run("rm", "-q", rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            self._run("add", rel)

    def _head(self) -> str:
        return self._run("rev-parse", "HEAD").strip()

    # -- writes (the world builder's verbs) -----------------------------------------------
    def checkout(self, branch: str, start: str | None = None) -> None:
        if start is None and self.resolve("HEAD") is None:
            return  # unborn main: the first commit creates it
        if start is None:
            self._run("checkout", "-q", branch)
        else:
            self._run("checkout", "-q", "-B", branch, start)

    def commit(
        self, branch: str, message: str, files: dict[str, str | None], at: datetime, who: Person
    ) -> str:
        self.checkout(branch)
        self._write(files)
        self._run("commit", "-q", "--allow-empty", "-F", "-", at=at, who=who, input=message)
        return self._head()

    def create_branch(self, name: str, start: str) -> None:
        self._run("branch", "-f", name, start)

    def reset_branch(self, name: str, to: str) -> None:
        """What a cut-off does: the branch is rebuilt from another ref (a force push)."""
        current = self._run("rev-parse", "--abbrev-ref", "HEAD").strip()
        if current == name:
            self._run("reset", "-q", "--hard", to)
        else:
            self._run("branch", "-f", name, to)

    def merge(
        self, source: str, into: str, message: str, at: datetime, who: Person, squash: bool
    ) -> str:
        self.checkout(into)
        if squash:
            self._run("merge", "-q", "--squash", source, at=at, who=who)
            self._run("commit", "-q", "-F", "-", at=at, who=who, input=message)
        else:
            self._run("merge", "-q", "--no-ff", "-m", message, source, at=at, who=who)
        return self._head()

    def cherry_pick(
        self,
        sha: str,
        onto: str,
        message: str,
        at: datetime,
        who: Person,
        extra_files: dict[str, str | None] | None = None,
    ) -> str:
        """Apply `sha`'s change (first parent as mainline for merges) with our message."""
        self.checkout(onto)
        args = ["cherry-pick", "--no-commit"]
        if len(self.show(sha).parent_ids) > 1:
            args += ["-m", "1"]
        self._run(*args, sha, at=at, who=who)
        if extra_files:
            self._write(extra_files)
        self._run("commit", "-q", "--allow-empty", "-F", "-", at=at, who=who, input=message)
        return self._head()

    def revert(
        self, sha: str, on: str, at: datetime, who: Person, message: str | None = None
    ) -> str:
        """`git revert` (first parent as mainline for merges); with `message`, a revert
        made by hand: the same inverse patch under a message of one's own."""
        self.checkout(on)
        args = ["revert", "--no-edit"]
        if len(self.show(sha).parent_ids) > 1:
            args += ["-m", "1"]
        if message is None:
            self._run(*args, sha, at=at, who=who)
        else:
            self._run(*args, "--no-commit", sha, at=at, who=who)
            self._run("commit", "-q", "-F", "-", at=at, who=who, input=message)
        return self._head()

    # -- reads (what the API answers from) ------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        out = self._run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
        return out or None

    def show(self, sha: str) -> GitCommit:
        if sha in self._cache:
            return self._cache[sha]
        fmt = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        out = self._run("show", "-s", f"--format={fmt}", sha)
        parts = out.split("\x00", 8)
        message = parts[8].rstrip("\n") + "\n" if parts[8].strip() else ""
        commit = GitCommit(
            id=parts[0],
            parent_ids=tuple(parts[1].split()),
            title=message.split("\n", 1)[0],
            message=message,
            author_name=parts[2],
            author_email=parts[3],
            authored_date=datetime.fromisoformat(parts[4]).astimezone(UTC),
            committer_name=parts[5],
            committer_email=parts[6],
            committed_date=datetime.fromisoformat(parts[7]).astimezone(UTC),
        )
        self._cache[commit.id] = commit
        return commit

    def log(
        self,
        ref: str,
        since: datetime | None = None,
        until: datetime | None = None,
        first_parent: bool = False,
        path: str | None = None,
    ) -> list[str]:
        """Commit SHAs reachable from ref, newest first (GitLab's default order)."""
        args = ["rev-list", ref]
        if since:
            args.append(f"--since={_iso(since)}")
        if until:
            args.append(f"--until={_iso(until)}")
        if first_parent:
            args.append("--first-parent")
        if path:
            args += ["--", path]
        return self._run(*args).split()

    def range(self, base: str, head: str) -> list[str]:
        """Commits in head not in base, oldest first (compare's `commits`)."""
        return self._run("rev-list", "--reverse", f"{base}..{head}").split()

    def merge_base(self, *shas: str) -> str | None:
        out = self._run("merge-base", *shas, check=False).strip()
        return out or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, descendant],
            cwd=self.path,
            capture_output=True,
        )
        return proc.returncode == 0

    def branches(self) -> dict[str, str]:
        out = self._run("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def branches_containing(self, sha: str) -> list[str]:
        out = self._run("branch", "--format=%(refname:short)", "--contains", sha, check=False)
        return [b for b in out.split() if b]

    def diff(self, base: str | None, head: str) -> list[dict[str, object]]:
        """GitLab's diff entries between base (None: head's first parent) and head."""
        if base is None:
            parents = self.show(head).parent_ids
            base = parents[0] if parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        raw = self._run("diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, head)
        entries: list[dict[str, object]] = []
        fields = raw.split("\x00")
        i = 0
        while i < len(fields) - 1:
            meta = fields[i]
            if not meta.startswith(":"):
                i += 1
                continue
            a_mode, b_mode, _a, _b, status = meta[1:].split(" ")
            path = fields[i + 1]
            i += 2
            patch = self._run("diff", "--no-renames", base, head, "--", path)
            # GitLab's `diff` is the patch from the first hunk header on.
            hunk_start = patch.find("\n@@")
            body = patch[hunk_start + 1 :] if hunk_start >= 0 else ""
            entries.append(
                {
                    "old_path": path,
                    "new_path": path,
                    "a_mode": "0" if status == "A" else a_mode,
                    "b_mode": "0" if status == "D" else b_mode,
                    "new_file": status == "A",
                    "renamed_file": False,
                    "deleted_file": status == "D",
                    "diff": body,
                }
            )
        return entries
