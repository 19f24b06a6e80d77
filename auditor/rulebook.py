"""The rule catalog, read from rules/ (data), independent of the checks (code)."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import cache

from auditor.resources import data_dir

CATALOG_FILE = "staging-hotfix-release.toml"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    runbook: str
    severity: str
    description: str
    parameters: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Rulebook:
    name: str
    version: str
    sha256: str
    rules: tuple[Rule, ...]

    def get(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


@cache
def load_rulebook() -> Rulebook:
    path = data_dir("rules") / CATALOG_FILE
    raw = path.read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    rules = tuple(
        Rule(
            id=r["id"],
            name=r["name"],
            runbook=r["runbook"],
            severity=r["severity"],
            description=r["description"],
            parameters=dict(r.get("parameters", {})),
        )
        for r in data["rule"]
    )
    return Rulebook(data["runbook"], str(data["version"]), hashlib.sha256(raw).hexdigest(), rules)
