"""What a validation note says, per service: realistic notes read as a careful auditor would.

Each row is a note as release managers write them on a hotfix MR, with the reading expected for
one or more services: (claim, whether the note names the service). The properties check the
rules that must hold for any note: a negated or unfinished note never validates, a note about
other services is unrelated, quoted text is not a claim, and how a name is written does not
matter.
"""

from __future__ import annotations

import re
from itertools import cycle

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from auditor.notes import (
    DEFAULT_VOCABULARY,
    QUOTE_LIMIT,
    Claim,
    NoteReading,
    Vocabulary,
    read_note,
)

SERVICES = ("vemo-core", "charge-api", "vemo-core-worker", "billing")

V, F, P, A, U = Claim.VALIDATED, Claim.FAILED, Claim.PENDING, Claim.AMBIGUOUS, Claim.UNRELATED
GERMAN = Vocabulary.with_overrides(validated=["abgenommen"], failed=["kaputt"], pending=["offen"])

# (id, body, {service: (claim, names_service)}, vocabulary)
NOTES: list[tuple[str, str, dict[str, tuple[Claim, bool]], Vocabulary]] = [
    # --- plain success ---------------------------------------------------------------------
    (
        "runbook-note",
        "Validated in staging for vemo-core: reproduced the original issue, the fix holds and "
        "smoke checks are green.",
        {"vemo-core": (V, True), "charge-api": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "runbook-note-two-services",
        "Validated in staging for vemo-core and charge-api: reproduced the original issue, the "
        "fix holds and smoke checks are green.",
        {"vemo-core": (V, True), "charge-api": (V, True), "billing": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "verified-works",
        "Verified on staging, works.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "smoke-passed-for-one",
        "Smoke tests passed on staging for charge-api",
        {"charge-api": (V, True), "vemo-core": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "tested-ok",
        "Tested the hotfix in staging: OK",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "lgtm-confirmed",
        "LGTM on staging, confirmed fixed",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    ("qa-done-emoji", "QA done on staging ✅", {"vemo-core": (V, False)}, DEFAULT_VOCABULARY),
    (
        "checked-all-good",
        "checked vemo-core in staging, all good",
        {"vemo-core": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "all-green-three-services",
        "All green on staging for vemo-core, charge-api and billing after the smoke run.",
        {"vemo-core": (V, True), "charge-api": (V, True), "billing": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "backticks-and-link",
        "Validated in staging for `vemo-core` "
        "([smoke job](https://gitlab.example.com/evenergi/charge-api/-/jobs/77) green)",
        {"vemo-core": (V, True), "charge-api": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "worker-is-not-core",
        "Validated in staging for vemo-core-worker",
        {"vemo-core-worker": (V, True), "vemo-core": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "promotion-log-then-validation",
        "Promoted to staging:\n- picked !42 onto release\n- ran `01 release vemo-core`\n"
        "- deploy finished 14:02\n\nValidation: smoke suite green, reproduced CHG-881 "
        "before/after, timeout gone. Adding the label.",
        {"vemo-core": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "numbered-manual-checks",
        "Manual validation on staging for charge-api:\n1. Reproduced the double charge on main - "
        "OK\n2. Deployed hotfix, duplicate charge no longer happens - OK\n3. Smoke suite green",
        {"charge-api": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    # --- failure words that name the bug, not the outcome -----------------------------------
    (
        "failed-sessions-recover",
        "Verified on staging that the failed sessions now recover.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "no-more-failures",
        "Checked on staging: no more failures in the session logs.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "previously-failing-payments",
        "Validated on staging — the previously failing payments go through now.",
        {"charge-api": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "error-rate-back-to-normal",
        "Tested vemo-core on staging: the previously failing session recovery works, error rate "
        "back to normal.",
        {"vemo-core": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "no-regressions-and-smoke",
        "No regressions found and smoke passed on staging.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "prod-rollout-is-another-matter",
        "Validated on staging, prod rollout tomorrow.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "pasted-output-clean",
        "Smoke output below, all green.\n```\n42 passed, 0 failed in 31.2s\n```",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- failure ----------------------------------------------------------------------------
    (
        "smoke-failed-reverting",
        "Smoke failed on staging for vemo-core; reverting the pick.",
        {"vemo-core": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "fix-does-not-work",
        "Validation failed: the fix does not work on staging, the charger session still times out.",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "still-broken-shortcode",
        "Still broken on staging for vemo-core :x:",
        {"vemo-core": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "errors-in-logs",
        "Regression on staging: errors in logs after deploy (NullPointerException in "
        "SessionService).",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "rolled-back-because",
        "Rolled back because the payment callback started timing out.",
        {"charge-api": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "checked-then-broken",
        "Tested on staging: broken, the session still drops after 30s.",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- mixed: the later state wins only when the text marks it ----------------------------
    (
        "validated-but-smoke-still-failing",
        "Validated the API on staging, but smoke still failing.",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "failing-again",
        "Validated yesterday, failing again today after the config change.",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "rollback-then-green-again",
        "Rolled back on staging for vemo-core (customer report); release job rerun and smoke "
        "checks green again.",
        {"vemo-core": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "flaky-then-rerun",
        "Smoke failed at first (flaky), retried and it's green now.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "deploy-failed-redeployed",
        "Staging deploy of vemo-core failed (runner timeout), redeployed, smoke passed on the "
        "second run.",
        {"vemo-core": (V, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "counts-mixed",
        "Smoke on staging: 48 passed, 2 failed.",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "passed-but-still-see-it",
        "vemo-core: smoke passed, but I still see the timeout in the logs",
        {"vemo-core": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "verified-but-output-fails",
        "Verified on staging:\n```\ntest_session_resume FAILED\n3 failed, 40 passed\n```",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- pending: negated, unfinished, future, conditional, questions -----------------------
    ("not-verified-yet", "Not verified yet", {"vemo-core": (P, False)}, DEFAULT_VOCABULARY),
    (
        "smoke-running",
        "Deployed to staging, smoke tests are running.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "after-lunch",
        "Haven't tested on staging yet, will test after lunch.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    ("pending-qa", "Pending QA on staging.", {"vemo-core": (P, False)}, DEFAULT_VOCABULARY),
    (
        "in-progress-other-service",
        "Validation in progress for charge-api",
        {"charge-api": (P, True), "vemo-core": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "waiting-for-smoke",
        "Deployed vemo-core, waiting for smoke.",
        {"vemo-core": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "todo-verify",
        "TODO: verify vemo-core on staging",
        {"vemo-core": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "once-verified",
        "Release job done. Once verified we'll add the label.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "to-be-confirmed",
        "Fix is on staging, to be confirmed by QA tomorrow.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "if-smoke-fails",
        "If smoke fails on staging we roll back the pick.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "question",
        "Can someone verify vemo-core on staging? I don't have access.",
        {"vemo-core": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "please-validate",
        "Deployed charge-api to staging.\n\n@qa-team please validate charge-api when you get a "
        "chance 🙏",
        {"charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "works-locally-not-on-staging",
        "Works on my machine, not tested on staging yet",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "qa-working-on-it",
        "Deployed charge-api to staging; QA is working on it.",
        {"charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "smoke-not-run",
        "- deploy ✅\n- smoke not run",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- ambiguous --------------------------------------------------------------------------
    (
        "tested-locally",
        "Tested locally, works. Deploying to staging now.",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "verified-in-prod-not-staging",
        "Verified in prod, not on staging",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "deploy-confirmed-is-not-validation",
        "Confirmed the deploy finished on staging, the release job is green.",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "negated-saying",
        "I can't say it's validated, the logs are noisy.",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "except-a-path",
        "Validated on staging, except the retry path which I couldn't reproduce",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "looks-good-after-deploy",
        "Deployed vemo-core, looks good",
        {"vemo-core": (A, True)},
        DEFAULT_VOCABULARY,
    ),
    ("tested-without-outcome", "Tested on staging.", {"vemo-core": (A, False)}, DEFAULT_VOCABULARY),
    (
        "hedged",
        "Seems fixed on staging, will keep an eye on it.",
        {"vemo-core": (A, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "appended-not-verified",
        "Validated vemo-core (not verified yet on the second pod)",
        {"vemo-core": (A, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "service-as-context-only",
        "Validated vemo-core against charge-api's sandbox",
        {"vemo-core": (A, True), "charge-api": (A, True)},
        DEFAULT_VOCABULARY,
    ),
    # --- several services in one note -------------------------------------------------------
    (
        "one-validated-other-to-check",
        "vemo-core validated; charge-api still to be checked",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "and-to-be-checked",
        "vemo-core validated and charge-api still to be checked",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "but-not",
        "Validated vemo-core on staging but not charge-api",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "per-service-lines",
        "vemo-core: validated\ncharge-api: validated\nbilling: smoke failed, rolled back",
        {"vemo-core": (V, True), "charge-api": (V, True), "billing": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "emoji-row",
        "Smoke: vemo-core ✅ charge-api ❌",
        {"vemo-core": (V, True), "charge-api": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "label-once-other-verified",
        "vemo-core validated in staging. Will add the label once charge-api is verified too.",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "summary-line-and-list",
        "Hotfix validated in staging ✅\n\n- vemo-core: smoke green, manual repro of CHG-1234 "
        "no longer reproduces\n- charge-api: not affected, no deploy needed",
        {"vemo-core": (V, True), "charge-api": (A, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "other-line-reverting",
        "Validated vemo-core.\ncharge-api: smoke failed. Reverting.",
        {"vemo-core": (V, True), "charge-api": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "billing-green-worker-not-deployed",
        "Smoke for billing is green. vemo-core-worker: not deployed yet.",
        {"billing": (V, True), "vemo-core-worker": (P, True), "vemo-core": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- Markdown: checklists, headings, tables, quotes, struck text ------------------------
    (
        "checklist",
        "Staging validation:\n- [x] vemo-core smoke + manual check\n- [ ] charge-api",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "checklist-without-lead",
        "- [x] vemo-core verified\n- [ ] charge-api",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "checklist-of-release-steps",
        "Release for vemo-core:\n- [x] cherry-pick onto release\n- [x] `01 release vemo-core`\n"
        "- [ ] smoke tests\n- [ ] update the changelog",
        {"vemo-core": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "headings",
        "## vemo-core\nSmoke ✅\nManual check of the session timeout ✅\n\n## charge-api\n"
        "Smoke ⏳ (queue is long)",
        {"vemo-core": (V, True), "charge-api": (P, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "table",
        "Validation status:\n\n| service | smoke | manual |\n| --- | --- | --- |\n"
        "| vemo-core | ✅ | ✅ |\n| charge-api | ✅ | ⏳ |",
        {"vemo-core": (V, True), "charge-api": (A, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "lead-checked",
        "Checked:\n- vemo-core ✅\n- charge-api ❌ (timeouts on /sessions)",
        {"vemo-core": (V, True), "charge-api": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "quoted-claim-then-failure",
        "> Validated in staging for vemo-core\n\nNot so fast: smoke is red for vemo-core since "
        "the deploy.",
        {"vemo-core": (F, True)},
        DEFAULT_VOCABULARY,
    ),
    (
        "quoted-question-then-answer",
        "> @rm can you confirm vemo-core is validated?\n\nYes, validated on staging.",
        {"vemo-core": (V, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "gitlab-block-quote",
        ">>>\nValidated in staging for vemo-core\n>>>\nThat was the old deploy; needs to be "
        "validated again.",
        {"vemo-core": (P, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "struck-through",
        "~~Validated in staging for vemo-core~~ Smoke is failing, investigating.",
        {"vemo-core": (F, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "label-is-not-a-claim",
        'Added the ~"Validated in Staging" label.',
        {"vemo-core": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    (
        "html-comment",
        "Validated in staging for vemo-core <!-- TODO: double-check charge-api -->",
        {"vemo-core": (V, True), "charge-api": (U, False)},
        DEFAULT_VOCABULARY,
    ),
    # --- a team's own vocabulary ------------------------------------------------------------
    (
        "own-validated-word",
        "vemo-core auf Staging abgenommen",
        {"vemo-core": (V, True)},
        GERMAN,
    ),
    ("own-failed-word", "vemo-core: Smoke kaputt", {"vemo-core": (F, True)}, GERMAN),
    ("own-pending-word", "vemo-core: noch offen", {"vemo-core": (P, True)}, GERMAN),
    (
        "replaced-list-no-longer-validates",
        "Validated in staging for vemo-core",
        {"vemo-core": (A, True)},
        GERMAN,
    ),
    (
        "own-word-unknown-by-default",
        "vemo-core auf Staging abgenommen",
        {"vemo-core": (U, True)},
        DEFAULT_VOCABULARY,
    ),
]

READINGS = [
    pytest.param(body, service, expected, vocabulary, id=f"{name}:{service}")
    for name, body, per_service, vocabulary in NOTES
    for service, expected in per_service.items()
]


def test_the_table_is_large_enough() -> None:
    assert len({body for _, body, _, _ in NOTES}) >= 40


@pytest.mark.parametrize(("body", "service", "expected", "vocabulary"), READINGS)
def test_reading(
    body: str, service: str, expected: tuple[Claim, bool], vocabulary: Vocabulary
) -> None:
    reading = read_note(body, service, SERVICES, vocabulary)
    assert (reading.claim, reading.names_service) == expected, reading.quote
    assert len(reading.quote) <= QUOTE_LIMIT
    assert (reading.quote == "") == (reading.claim is Claim.UNRELATED)


# --- quotes ---------------------------------------------------------------------------------


def test_quote_is_the_sentence_the_claim_rests_on() -> None:
    body = "vemo-core: validated\ncharge-api: validated\nbilling: smoke failed, rolled back"
    assert read_note(body, "billing", SERVICES).quote == "billing: smoke failed, rolled back"
    assert read_note(body, "vemo-core", SERVICES).quote == "vemo-core: validated"


def test_quote_keeps_both_sides_of_a_mixed_note() -> None:
    quote = read_note("Smoke on staging: 48 passed, 2 failed.", "vemo-core", SERVICES).quote
    assert quote == "Smoke on staging: 48 passed, 2 failed."


def test_quote_is_trimmed_to_the_limit() -> None:
    body = "Validated in staging for vemo-core: " + ", ".join(
        f"checked flow {i} end to end and it holds" for i in range(12)
    )
    reading = read_note(body, "vemo-core", SERVICES)
    assert reading.claim is Claim.VALIDATED
    assert len(reading.quote) == QUOTE_LIMIT
    assert reading.quote.startswith("Validated in staging for vemo-core: checked flow 0")
    assert reading.quote.endswith("…")


def test_quote_drops_markdown_noise() -> None:
    body = "**Validated** in staging for `vemo-core` ([job](https://gitlab.example.com/x/-/jobs/1))"
    assert (
        read_note(body, "vemo-core", SERVICES).quote == "Validated in staging for vemo-core (job)"
    )


# --- vocabulary -----------------------------------------------------------------------------


def test_overrides_keep_defaults_for_none_and_replace_for_lists() -> None:
    assert Vocabulary.with_overrides() == DEFAULT_VOCABULARY
    tuned = Vocabulary.with_overrides(validated=["  Signed   Off ", "", "signed off"], pending=[])
    assert tuned.validated == ("signed off",)
    assert tuned.failed == DEFAULT_VOCABULARY.failed
    assert tuned.pending == ()


def test_an_emptied_pending_list_leaves_the_grammar() -> None:
    # the vocabulary is words; negation and future are grammar, which teams do not switch off
    silent = Vocabulary.with_overrides(pending=[])
    assert read_note("Not verified yet", "vemo-core", SERVICES, silent).claim is Claim.PENDING
    assert read_note("will test after lunch", "vemo-core", SERVICES, silent).claim is Claim.PENDING


def test_a_word_in_two_of_a_teams_lists_reads_as_the_less_favourable() -> None:
    both = Vocabulary.with_overrides(validated=["durch"], failed=["durch"])
    assert read_note("vemo-core durch", "vemo-core", SERVICES, both).claim is Claim.FAILED


# --- properties -----------------------------------------------------------------------------

ABOUT = [
    "Validated in staging for {s}: reproduced the original issue, the fix holds and smoke "
    "checks are green.",
    "Verified {s} on staging, works.",
    "Smoke tests passed on staging for {s}",
    "Tested {s} in staging: OK",
    "LGTM on staging for {s}, confirmed fixed",
    "QA done on staging for {s} ✅",
    "checked {s} in staging, all good",
    "- [x] {s} verified on staging",
    "## {s}\nSmoke ✅",
    "Verified on staging that the failed sessions of {s} now recover.",
    "Smoke failed at first, rerun passed for {s}.",
    "| service | smoke |\n|---|---|\n| {s} | ✅ |",
]
UNNAMED = [
    "Verified on staging, works.",
    "Smoke ✅",
    "Checked on staging: no more failures.",
    "Validated.",
    "All green after the rerun.",
]
OTHER = [
    *ABOUT,
    "Smoke failed on staging for {s}; reverting the pick.",
    "{s}: still to be checked",
    "- [ ] {s}",
    "Validation in progress for {s}",
]
name = st.from_regex(r"[a-z]{2,8}(?:-[a-z]{2,8}){0,2}", fullmatch=True)
validations = st.lists(
    st.one_of(
        st.sampled_from(ABOUT).map(lambda t: t.format(s="vemo-core")), st.sampled_from(UNNAMED)
    ),
    min_size=1,
    max_size=4,
)
joiners = st.sampled_from(["\n", "\n\n", " "])


@given(validations, joiners, st.sampled_from(["not yet: ", "Not verified yet: ", "TODO: "]))
def test_prefixing_not_yet_never_validates(parts: list[str], joiner: str, prefix: str) -> None:
    body = joiner.join(parts)
    assume(read_note(body, "vemo-core", SERVICES).claim is Claim.VALIDATED)
    assert read_note(prefix + body, "vemo-core", SERVICES).claim is not Claim.VALIDATED


@given(validations, joiners, st.sampled_from([" (not verified yet)", ", will verify later"]))
def test_appending_not_verified_yet_never_validates(
    parts: list[str], joiner: str, suffix: str
) -> None:
    body = joiner.join(parts)
    assume(read_note(body, "vemo-core", SERVICES).claim is Claim.VALIDATED)
    assert read_note(body + suffix, "vemo-core", SERVICES).claim is not Claim.VALIDATED


@given(
    name,
    st.lists(name, min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(OTHER), min_size=1, max_size=3),
)
@example("core", ["vemo-core"], ["Validated in staging for {s}"])
@example("vemo-core", ["vemo-core-worker"], ["{s}: validated", "- [x] {s} verified"])
def test_a_note_naming_only_other_services_is_unrelated(
    target: str, others: list[str], templates: list[str]
) -> None:
    assume(target not in others)
    body = "\n".join(t.format(s=o) for t, o in zip(templates, cycle(others), strict=False))
    assume(not re.search(rf"(?<![\w@-]){re.escape(target)}(?![\w-])", body, re.IGNORECASE))
    reading = read_note(body, target, [target, *others])
    assert reading == NoteReading(Claim.UNRELATED, False, "")


@given(st.lists(st.sampled_from([*ABOUT, *OTHER, *UNNAMED]), min_size=1, max_size=3), name)
def test_quoted_lines_are_not_claims(templates: list[str], quoted_service: str) -> None:
    body = "\n".join(t.format(s="vemo-core") for t in templates)
    quote = "\n".join(
        "> " + line for line in ABOUT[0].format(s=quoted_service).split("\n")
    )  # someone else's words, naming any service
    for service in ("vemo-core", "charge-api"):
        assert read_note(f"{quote}\n{body}", service, SERVICES) == read_note(
            body, service, SERVICES
        )


@given(st.lists(st.sampled_from([*ABOUT, *OTHER]), min_size=1, max_size=3))
def test_how_the_name_is_written_does_not_matter(templates: list[str]) -> None:
    plain = "\n".join(t.format(s="vemo-core") for t in templates)
    expected = read_note(plain, "vemo-core", SERVICES)
    for spelled in ("`vemo-core`", "VEMO-CORE", "**vemo-core**"):
        body = "\n".join(t.format(s=spelled) for t in templates)
        reading = read_note(body, "vemo-core", SERVICES)
        assert (reading.claim, reading.names_service) == (expected.claim, expected.names_service)
