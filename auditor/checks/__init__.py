"""One pure check per rule id. `CHECKS` maps rule id -> check(evidence, clock) -> Outcome."""

from __future__ import annotations

from collections.abc import Callable

from auditor.checks import (
    sh01,
    sh02,
    sh03,
    sh04,
    sh05,
    sh06,
    sh07,
    sh08,
    sh09,
    sh10,
    sh11,
    sh12,
    sh13,
    sh14,
)
from auditor.checks._outcome import Outcome
from auditor.derive import Clock
from auditor.evidence import PromotionEvidence

Check = Callable[[PromotionEvidence, Clock], Outcome]

CHECKS: dict[str, Check] = {
    m.RULE_ID: m.check
    for m in (sh01, sh02, sh03, sh04, sh05, sh06, sh07, sh08, sh09, sh10, sh11, sh12, sh13, sh14)
}
