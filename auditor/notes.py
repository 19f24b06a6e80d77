"""What a human note on a merge request says about the staging validation of one service.

`read_note(body, service, services)` reads a note the way a careful auditor would and answers
with a `Claim`: the note states that validation of the service succeeded (VALIDATED), that it
failed (FAILED), that it is unfinished, negated or future (PENDING), that it is about the
validation but cannot be read safely either way (AMBIGUOUS), or that it is not about validating
this service at all (UNRELATED). The auditor must never read a validation that was not stated:
whenever the rules below cannot decide, the answer is AMBIGUOUS, never VALIDATED.

The reader is pure (text in, value out) and runs as a small pipeline:

1. **Clean.** Quoted text (`> ...` lines and `>>>` blocks: someone else's words), HTML
   comments, struck-through text (`~~...~~`, retracted) and URLs are dropped. Fenced code is
   pasted output, not a claim: dropped, except that output reporting a failure leaves a hedge
   in its place ("Verified:" above a log of failed tests cannot be read as a validation).
   Links keep their text, code spans their content (a service name in backticks counts), GitLab
   emoji shortcodes become emoji, and label references (`~"Validated in Staging"`, `the
   Validated in Staging label`) become "label": naming the label is not a claim.
2. **Lines, sentences, clauses.** Headings, lines ending with ":" and table headers are *leads*:
   the lines under them are about the lead's services and topic. List items and checkboxes are
   recognised: `- [x] item` is done (a validation when the item or its lead is about
   validation), `- [ ] item` is not done (PENDING, in a list about validation even for a bare
   "- [ ] charge-api"). Lines split into sentences at . ! ? and sentences into clauses at
   , ; ( ) | and before "but", "however", "although", "while", "whereas", "except". A list of
   services ("vemo-core, charge-api and billing") stays one clause; a clause naming several
   services splits before each later name (and its "and") when every piece says something of
   its own ("vemo-core validated and charge-api still to be checked", "vemo-core ✅ charge-api
   ❌").
3. **Attribute.** Service names match as whole tokens, case-insensitively, hyphens part of the
   name (`vemo-core` is not `vemo-core-worker`, `@vemo-core-team` is not `vemo-core`). A clause
   naming services is about those; when they are not a plain list ("validated vemo-core
   against charge-api's sandbox") it cannot be told which one it is about: AMBIGUOUS for each.
   A clause naming none continues the last named clause of its sentence (or, before any name,
   the services its sentence names), else the last named sentence of its line, else the
   services of its lead, else every service the note names. "but not charge-api", "except
   billing" exclude the service (PENDING). A note naming only other services is UNRELATED; a
   note naming none is read whole, with `names_service=False`.
4. **Classify** each clause by the vocabulary (longest phrase first) and a little grammar:
   - a success word governed by a negation ("not verified", "haven't tested"), a future or
     modal ("will test", "to be checked", "needs to be verified", "please verify"), a
     conditional ("once verified, ...", "if smoke passes, ...") or in a question is PENDING;
     after a hedge ("seems fixed", "should be fine") or a negation elsewhere in the clause
     ("I can't say it's validated") it is AMBIGUOUS; a bare "verify", "- test X" or "testing
     now" is PENDING;
   - a failure word governed by a negation ("no errors", "no more failures", "didn't fail") or
     followed by a zero ("failures: 0") says nothing failed; used attributively in a clause that
     also reports success ("verified that *the failed* sessions now recover") it names the bug
     being fixed, not the outcome (rollback words never do); in a conditional it is PENDING;
   - outcome words that are not about validation by themselves ("ok", "works", "fixed",
     "green", "passed", ✅) count only in a sentence or under a lead about validation (smoke,
     test, check, QA, validation, verification, ...): "Deployed vemo-core, looks good" is
     AMBIGUOUS. Words that say a check was done ("tested", "checked") are not an outcome. A
     check of the delivery ("confirmed the deploy finished") or of another place ("tested
     locally", "verified in prod", "unit tests pass") is not a staging validation, and what is
     pending or failing there ("prod rollout tomorrow") is not about it either;
5. **Fold** the clauses about the service:
   - failure with no success: FAILED (pending or hedged words beside a failure do not soften it);
   - failure and success: the later one wins only when the text marks it as the new state:
     a later success with a recovery word after the failure ("rerun passed", "green again",
     "now passes"; nothing pending in the note, no hedge on the success) is VALIDATED; a later
     failure with a persistence word ("still failing", "failing again") is FAILED; otherwise
     AMBIGUOUS ("48 passed, 2 failed");
   - pending with no success: PENDING; pending (or a hedge) and success: AMBIGUOUS;
   - success alone: VALIDATED. A done check ("tested", "checked") needs an outcome beside it
     ("checked: no more failures", "tested, OK"); alone it is AMBIGUOUS, and beside a failure it
     is simply how the failure was found ("tested on staging: broken" is FAILED);
   - nothing but validation topic, bare outcome words or "no errors": AMBIGUOUS; nothing at
     all: UNRELATED.

Teams tune the words (`Vocabulary.with_overrides`, from `auditor.toml` `[policy]`
validation_words / failure_words / pending_words); the grammar above is fixed. A team's own
success words are claims of validation in their own right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class Claim(StrEnum):
    VALIDATED = "validated"  # states that a validation of the service succeeded
    FAILED = "failed"  # states that validation of the service failed / the fix does not work
    PENDING = "pending"  # unfinished, negated or future
    AMBIGUOUS = "ambiguous"  # about validation of the service, but cannot be read safely
    UNRELATED = "unrelated"  # not about validating this service


_VALIDATED = (
    # claims of a successful validation
    "validated", "verified", "confirmed", "signed off", "validation done", "validation ok",
    "validation passed", "validation complete", "validation completed", "verification done",
    "qa passed", "qa ok", "smoke ok", "smoke green",
    # a check was done (an outcome must stand beside it)
    "tested", "retested", "re-tested", "checked", "rechecked", "re-checked", "double-checked",
    "smoke-tested", "smoke tested", "qa'd", "qaed", "qa done", "testing done", "tests done",
    "checks done",
    # outcomes, which count only when the sentence is about validation
    "passed", "pass", "passes", "passing", "succeeded", "successful", "works", "working", "worked",
    "works as expected", "working as expected", "all good", "looks good", "look good", "lgtm",
    "ok", "okay", "fine", "green", "all green", "fixed", "resolved", "holds", "no issues",
    "no problems", "✅", "✔", "☑", "👍", "🟢",
)  # fmt: skip
_FAILED = (
    "failed", "fails", "fail", "failing", "failure", "failures", "broken", "still broken",
    "broke", "breaks", "does not work", "doesn't work", "doesnt work", "did not work",
    "didn't work", "not working", "isn't working", "is not working", "stopped working",
    "not fixed", "isn't fixed", "not resolved", "did not pass", "didn't pass", "not passing",
    "not ok", "not okay", "not good", "no good", "not green", "nok", "regression",
    "regressions", "regressed", "error", "errors", "exception", "exceptions", "crash",
    "crashes", "crashed", "crashing", "500s", "timeouts", "red", "rolled back", "rolling back",
    "roll back", "rollback", "reverted", "reverting", "revert", "still happening",
    "still reproduces", "still reproducible", "still occurs", "still there", "still see",
    "still seeing", "persists", "❌", "✗", "✘", "🔴", "🚨", "⛔",
)  # fmt: skip
_PENDING = (
    "pending", "not yet", "yet", "in progress", "running", "ongoing", "waiting", "awaiting",
    "queued", "scheduled", "next", "todo", "to do", "to-do", "tbd", "tbc", "wip", "to be confirmed",
    "to be checked", "to be verified", "to be tested", "to be validated", "still to", "yet to",
    "to follow", "later", "tomorrow", "after lunch", "in a bit", "investigating",
    "looking into", "on hold", "blocked", "working on it", "working on this",
    "working on that", "work in progress", "not started", "not done", "skipped", "not run",
    "didn't run", "did not run", "not executed", "not triggered", "not verified yet",
    "not tested yet", "not checked yet", "haven't tested", "haven't verified",
    "haven't checked", "will test", "will verify", "will check", "will validate",
    "will confirm", "⏳", "⌛", "🚧", "🔄",
)  # fmt: skip


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# How some default words are weighed (a team's own words are plain claims):
ACTION_WORDS = _set(
    "tested retested re-tested checked rechecked re-checked double-checked smoke-tested qa'd qaed"
) | {"smoke tested", "qa done", "testing done", "tests done", "checks done"}
OUTCOME_WORDS = _set(
    "passed pass passes passing succeeded successful works working worked lgtm ok okay fine green "
    "fixed resolved holds ✅ ✔ ☑ 👍 🟢"
) | {
    "works as expected", "working as expected", "all good", "looks good", "look good",
    "all green", "no issues", "no problems",
}  # fmt: skip
# pending or failure words that mean something else outside a sentence about validation
# ("the fix is running on staging", "will add the label later", "red herring")
CONTEXTUAL_WORDS = _set(
    "yet running ongoing waiting queued scheduled next later tomorrow investigating blocked red 🔴"
) | {"after lunch", "in a bit", "looking into", "on hold", "to do"}
# failure words that always report an outcome, never name the bug being fixed
ROLLBACK_WORDS = frozenset({"rolled back", "rolling back", "roll back", "rollback", "reverted",
                            "reverting", "revert"})  # fmt: skip

_HEDGES = (
    "not sure", "unsure", "unclear", "inconclusive", "flaky", "partially", "partly", "mostly",
    "i think", "i believe", "seems", "seem", "apparently", "probably", "hopefully", "maybe",
    "perhaps", "not 100%", "hard to tell", "can't tell", "cannot tell", "kind of", "sort of",
    "⚠", "🤔",
)  # fmt: skip
# phrases that contain a vocabulary word but say nothing about the outcome
_NEUTRAL = (
    "up and running", "checked out", "check out", "checking out", "checkout", "green light",
    "passed to", "passed on to", "passed it to", "pass to", "pass it to", "passing to",
    "passing it to", "error handling", "error message", "error messages",
    "error rate", "error page", "failure mode", "failure modes", "failure case",
    "failure cases", "failure path", "exception handling", "rollback plan", "ok to", "okay to",
)  # fmt: skip
_BASE_VERBS = (
    "validate", "verify", "test", "check", "confirm", "retest", "re-test", "recheck",
    "re-check", "double-check", "double check", "smoke test", "smoke-test", "qa", "try",
)  # fmt: skip
_PROGRESSIVE = (
    "validating", "verifying", "testing", "checking", "confirming", "retesting", "re-testing",
    "rechecking", "smoke testing", "smoke-testing", "qa-ing", "qaing",
)  # fmt: skip

_NEGATORS = _set(
    "not no never nobody none nothing without cannot neither nor zero 0 dont didnt doesnt "
    "havent hasnt isnt wasnt arent werent cant couldnt wont except excluding"
)
_FUTURE = _set(
    "will shall to need needs must please pls plz can gonna going let's lets want wanna plan "
    "planning todo for awaiting waiting pending"
)
_HEDGE_WORDS = _set(
    "should might may could would probably likely maybe perhaps apparently seems seem seemed "
    "hopefully think guess believe assume like mostly partially partly almost somewhat"
)
_CONDITIONALS = _set("if once when whenever until unless before whether")
_PROGRESSIVE_AUX = _set(
    "am is are was were be being still currently now started starting start continue "
    "continuing keep"
)
# words that may stand between a marker and the word it governs ("has not yet been verified")
_FILLER = _set(
    "be been being is are was were am get got gets getting have has had it it's its this that "
    "they we i you he she someone somebody anyone anybody all also still yet fully properly "
    "really actually just manually quickly thoroughly completely ever even already "
    "successfully both then"
)
_FAILURE_FILLER = _FILLER | _set(
    "more longer further new any other additional obvious visible such see seen saw seeing "
    "find found observe observed notice noticed there single real major related a an"
)
_DETERMINERS = _set(
    "the those these this that previously formerly earlier old original initial reported "
    "prior past yesterday's for"
)
# nouns after which a failure word reports a check, not the bug ("the failed smoke job")
_CHECK_NOUNS = _set(
    "smoke test tests check checks job jobs pipeline pipelines deploy deployment deployments "
    "validation run runs qa e2e suite build release rollout"
)
_RECOVERY = _set(
    "again now rerun re-run reran re-ran retried retry retest retested re-tested second "
    "redeployed re-deployed update updated edit"
)
_RELAPSE = _set("still again now keeps keep persist persists remains continues")
_SUCCESSISH = _set("recover recovers recovered recovering gone succeed succeeds")
_EXCEPTIONS = _set("except excluding apart besides")
_NAME_FILLER = _set("for on in the yet also")
_CONNECTORS = _set(
    "and or & plus the for on in at to staging both too also as well services service all of"
)

_TOPIC = re.compile(
    r"(?<![\w-])(?:smoke(?:[- ]?test\w*)?|tests?|tested|testing|retest\w*|re-test\w*|checks?"
    r"|checked|checking|re-?check\w*|double-check\w*|validat\w*|verif\w*|qa|qa'd|qaed"
    r"|acceptance|e2e|sanity|health[- ]?checks?|confirm\w*|repro\w*)(?![\w-])",
    re.IGNORECASE,
)
_DELIVERY = re.compile(
    r"(?<![\w-])(?:deploy\w*|pipelines?|rollout|release jobs?|jobs?)(?![\w-])", re.IGNORECASE
)
# a check of the delivery, not of the fix ("confirmed the deploy finished"); runbook steps
# before validation, which other rules judge
_DELIVERY_OBJECT = re.compile(
    r"(?:validated|verified|confirmed|checked|tested|double-checked)\s+(?:that\s+)?"
    r"(?:(?:the|a|this|our)\s+)?(?:deploy\w*|pipelines?|rollout|release(?:\s+(?:job|branch))?"
    r"|cherry-pick\w*|pick|commits?|sha|environment|jobs?|build|image|tag|version|label)"
    r"(?![\w-])",
    re.IGNORECASE,
)
# places a check can pass that are not the staging environment
_ELSEWHERE = re.compile(
    r"(?<![\w-])(?:local(?:ly)?|localhost|my (?:machine|laptop)|dev(?:elopment)?(?: env\w*)?"
    r"|review apps?|prod(?:uction)?|unit tests?|sandbox)(?![\w-])",
    re.IGNORECASE,
)
_STAGING = re.compile(r"(?<![\w-])(?:staging|stage|stg)(?![\w-])", re.IGNORECASE)
_WORD = re.compile(r"\w+(?:['-]\w+)*")

_SHORTCODES = {
    ":white_check_mark:": "✅", ":heavy_check_mark:": "✔", ":ballot_box_with_check:": "☑",
    ":thumbsup:": "👍", ":+1:": "👍", ":green_circle:": "🟢", ":x:": "❌", ":red_circle:": "🔴",
    ":rotating_light:": "🚨", ":no_entry:": "⛔", ":hourglass:": "⏳",
    ":hourglass_flowing_sand:": "⏳", ":construction:": "🚧", ":warning:": "⚠",
    ":thinking:": "🤔",
}  # fmt: skip


@dataclass(frozen=True)
class Vocabulary:
    """The words a team uses for success, failure and unfinished validation."""

    validated: tuple[str, ...]
    failed: tuple[str, ...]
    pending: tuple[str, ...]

    @classmethod
    def with_overrides(
        cls,
        validated: Sequence[str] | None = None,
        failed: Sequence[str] | None = None,
        pending: Sequence[str] | None = None,
    ) -> Vocabulary:
        """The defaults, with each given list replacing its default (None keeps it)."""
        return cls(
            validated=_VALIDATED if validated is None else _phrases(validated),
            failed=_FAILED if failed is None else _phrases(failed),
            pending=_PENDING if pending is None else _phrases(pending),
        )


def _phrases(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(" ".join(w.lower().split()) for w in words if w.strip()))


DEFAULT_VOCABULARY = Vocabulary(_VALIDATED, _FAILED, _PENDING)


@dataclass(frozen=True)
class NoteReading:
    claim: Claim
    names_service: bool  # the note names this service explicitly
    quote: str  # the sentence(s) the claim rests on, trimmed to <= 160 chars


QUOTE_LIMIT = 160


def read_note(
    body: str,
    service: str,
    services: Sequence[str] = (),
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> NoteReading:
    """What `body` says about the staging validation of `service`.

    `services` is every configured service name, so that a clause about another service is not
    read as one about this one.
    """
    target = service.strip().lower()
    names = frozenset(n.strip().lower() for n in (*services, service) if n.strip())
    lex = _lexicon(vocabulary)
    clauses = _clauses(_lines(_clean(body, lex)), _Names(names), lex)
    named = frozenset().union(*(c.names for c in clauses))
    if named and target not in named:
        return NoteReading(Claim.UNRELATED, False, "")
    mine = [c for c in clauses if not named or target in c.subjects]
    claim, basis = _fold(mine)
    return NoteReading(claim, target in named, _quote(basis))


# --- 1. clean -------------------------------------------------------------------------------


def _clean(body: str, lex: _Lexicon) -> list[str]:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate({0x2019: "'", 0x2018: "'", 0x201C: '"', 0x201D: '"', 0xFE0F: None})
    for shortcode, emoji in _SHORTCODES.items():
        text = text.replace(shortcode, f" {emoji} ")
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    kept: list[str] = []
    fence: str | None = None
    code: list[str] = []
    quoted = False
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence):
                kept.extend(_pasted(code, lex))
                fence, code = None, []
            else:
                code.append(line)
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if stripped.startswith(">>>"):  # GitLab's multi-line quote
            quoted = not quoted
            continue
        if quoted or stripped.startswith(">"):
            continue
        kept.append(_clean_inline(line))
    if fence is not None:
        kept.extend(_pasted(code, lex))
    return kept


def _pasted(code: list[str], lex: _Lexicon) -> list[str]:
    """A code block is pasted output, not the author's words; but output that reports
    failures makes what the author says about it unsafe to read as a validation."""
    setting = _Setting(topical=True, delivery=True, question=False, hypothetical=False)
    if any(h.kind == "F" for line in code for h in _classify(line, lex, setting)):
        return ["⚠ (pasted output reports a problem)"]
    return []


def _clean_inline(line: str) -> str:
    line = re.sub(r"~~.*?~~", " ", line)
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", line)
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"<https?://[^>]*>|https?://\S+", " ", line)
    line = re.sub(r'~"[^"]*"|(?<!~)~[A-Za-z][\w:-]*', "label", line)
    line = re.sub(r'(?:"[^"]*"|\bvalidated in staging)(?=\s+label\b)', "", line, flags=re.I)
    line = re.sub(r"</?[A-Za-z][^>]*>", " ", line)
    line = line.replace("`", "")
    line = re.sub(r"\*\*|__|(?<![\w*])\*(?!\s)|(?<!\s)\*(?![\w*])", "", line)
    return re.sub(r"(?<!\w)_(?=\w)|(?<=\w)_(?!\w)", "", line)


# --- 2. lines, sentences, clauses -----------------------------------------------------------


@dataclass
class _Line:
    text: str
    kind: str  # "blank", "heading", "item", "row", "plain"
    box: bool | None = None  # True for `[x]`, False for `[ ]`
    header: bool = False  # a table's header row


_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_BOX = re.compile(r"^\[([ xX])\]\s*(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _lines(raw: list[str]) -> list[_Line]:
    lines: list[_Line] = []
    for text in raw:
        stripped = text.strip()
        if not stripped:
            lines.append(_Line("", "blank"))
        elif _TABLE_RULE.match(stripped) and "|" in stripped:
            if lines and lines[-1].kind == "row":
                lines[-1].header = True
        elif m := re.match(r"^#{1,6}\s+(.*)$", stripped):
            lines.append(_Line(m.group(1).strip("# "), "heading"))
        elif stripped.startswith("|"):
            lines.append(_Line(stripped.strip("|"), "row"))
        elif m := _ITEM.match(text):
            item = m.group(1).strip()
            if b := _BOX.match(item):
                lines.append(_Line(b.group(2), "item", box=b.group(1) != " "))
            else:
                lines.append(_Line(item, "item"))
        else:
            lines.append(_Line(stripped, "plain"))
    return lines


@dataclass
class _Lexicon:
    # (pattern, kind, phrase), longest first; kinds: V success, F failure, P pending, H hedge,
    # B bare verb ("verify"), G progressive ("verifying"), X neutral ("checked out")
    phrases: list[tuple[re.Pattern[str], str, str]]
    topic_words: re.Pattern[str] | None  # a team's own success words also make a topic
    successish: re.Pattern[str]


@lru_cache(maxsize=32)
def _lexicon(vocabulary: Vocabulary) -> _Lexicon:
    kinds: dict[str, str] = {}
    # a team's words override the built-in ones; a phrase in several of a team's lists is
    # read as the least favourable of them
    for kind, words in (
        ("X", _NEUTRAL),
        ("B", _BASE_VERBS),
        ("G", _PROGRESSIVE),
        ("H", _HEDGES),
        ("V", vocabulary.validated),
        ("P", vocabulary.pending),
        ("F", vocabulary.failed),
    ):
        for w in words:
            kinds[" ".join(w.lower().split())] = kind
    phrases = sorted(kinds.items(), key=lambda kv: -len(kv[0]))
    own = [w for w in vocabulary.validated if w not in OUTCOME_WORDS and w not in ACTION_WORDS]
    return _Lexicon(
        phrases=[(_phrase_pattern(p), k, p) for p, k in phrases if p],
        topic_words=re.compile("|".join(_phrase_pattern(w).pattern for w in own)) if own else None,
        successish=re.compile(
            "|".join(_phrase_pattern(w).pattern for w in (*vocabulary.validated, *_SUCCESSISH))
            + r"|(?<![\w-])(?:no longer|go(?:es)? through|now)(?![\w-])"
        ),
    )


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in phrase.split())
    left = r"(?<![\w-])" if re.match(r"[\w']", phrase) else ""
    right = r"(?![\w-])" if re.search(r"[\w']$", phrase) else ""
    return re.compile(left + body + right)


class _Names:
    """The configured service names, matched as whole tokens (hyphens part of the name)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.patterns = {
            n: re.compile(rf"(?<![\w@-]){re.escape(n)}(?![\w-])", re.IGNORECASE) for n in names
        }

    def find(self, text: str) -> frozenset[str]:
        return frozenset(n for n, p in self.patterns.items() if p.search(text))

    def spans(self, text: str) -> list[tuple[int, int]]:
        return sorted(m.span() for p in self.patterns.values() for m in p.finditer(text))

    def without(self, text: str) -> str:
        for p in self.patterns.values():
            text = p.sub(" ", text)
        return text


@dataclass(frozen=True)
class _Hit:
    kind: str  # V success, A check done, W bare outcome, F failure, N no failure,
    # P pending, H hedge, T validation topic only, I imperative or progressive (tentative)
    at: int  # offset in the clause


@dataclass
class _Clause:
    text: str
    order: int
    sentence: str  # for quoting
    sentence_no: int
    line_no: int
    names: frozenset[str]
    context_names: frozenset[str]
    hits: list[_Hit] = field(default_factory=list)
    subjects: frozenset[str] = frozenset()


@dataclass
class _Context:
    """The leads the current line sits under: a heading, a `label:` line, a table header."""

    heading: tuple[frozenset[str], bool] | None = None
    label: tuple[frozenset[str], bool] | None = None
    label_used: bool = False
    table: tuple[frozenset[str], bool] | None = None

    def names(self) -> frozenset[str]:
        for lead in (self.table, self.label, self.heading):
            if lead is not None and lead[0]:
                return lead[0]
        return frozenset()

    def topical(self) -> bool:
        return any(lead is not None and lead[1] for lead in (self.table, self.label, self.heading))


def _clauses(lines: list[_Line], names: _Names, lex: _Lexicon) -> list[_Clause]:
    def topical(text: str) -> bool:
        text = _DELIVERY_OBJECT.sub(" ", text)
        return bool(_TOPIC.search(text) or (lex.topic_words and lex.topic_words.search(text)))

    groups = _item_groups(lines, topical)
    ctx = _Context()
    out: list[_Clause] = []
    sentence_no = 0
    for line_no, line in enumerate(lines):
        if line.kind == "blank":
            if ctx.label_used:
                ctx.label, ctx.label_used = None, False
            continue
        if line.kind != "row":
            ctx.table = None
        under = ctx.names()
        context_topic = ctx.topical()
        text = line.text
        line_clauses: list[_Clause] = []
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if not sentence.strip():
                continue
            sentence_no += 1
            question = sentence.rstrip(" )*_").endswith("?")
            quote = f"[{'x' if line.box else ' '}] {sentence}" if line.box is not None else sentence
            about = context_topic or topical(sentence)
            delivery = bool(_DELIVERY.search(sentence))
            hypothetical = False
            elsewhere = _elsewhere(sentence)
            for part in _split(sentence, names, lex):
                setting = _Setting(about, delivery, question, hypothetical, elsewhere)
                found, hits = _read_clause(part, setting, names, lex)
                if not hits and topical(part):
                    hits.append(_Hit("T", 0))
                hypothetical = _first_word(part) in _CONDITIONALS  # "if X, Y": Y is too
                clause = _Clause(
                    part, len(out), quote.strip(), sentence_no, line_no, found, under, hits
                )
                out.append(clause)
                line_clauses.append(clause)
        about = context_topic or topical(line.text)
        _apply_box(line, line_clauses, about, about or groups.get(line_no, False))
        lead = (names.find(line.text), topical(line.text))
        if line.kind == "heading":
            ctx = _Context(heading=lead)
        elif line.kind == "row" and line.header:
            ctx.table = lead
        elif line.text.rstrip().endswith(":"):
            ctx.label, ctx.label_used, ctx.table = lead, False, None
        elif ctx.label is not None:
            ctx.label_used = True
    _attribute(out)
    return out


def _read_clause(
    part: str, at: _Setting, names: _Names, lex: _Lexicon
) -> tuple[frozenset[str], list[_Hit]]:
    """The services a clause names and what it says: its words, then its shape."""
    found = names.find(part)
    hits = _classify(part, lex, at)
    if len(found) > 1 and not _coordinated(part, names):
        # "validated vemo-core against charge-api's sandbox": said of which one?
        hits = [_Hit("H", h.at) if h.kind in "VAWNF" else h for h in hits]
    if found and not hits:
        hits = _negation_only(part, names)
    if found and not hits and at.question:  # "charge-api?"
        hits = [_Hit("P", 0)]
    if not found and _first_word(part) in _EXCEPTIONS:  # "except the retry path"
        hits.append(_Hit("H", 0))
    if not found and not hits and re.match(r"(?:but |and |though )?not\b", part, re.I):
        hits.append(_Hit("H", 0))  # "verified in prod, not on staging"
    return found, hits


def _item_groups(lines: list[_Line], topical: Callable[[str], bool]) -> dict[int, bool]:
    """Whether each list item belongs to a list some item of which is about validation."""
    result: dict[int, bool] = {}
    group: list[int] = []

    def close() -> None:
        about = any(topical(lines[i].text) for i in group)
        result.update({i: about for i in group})
        group.clear()

    for i, line in enumerate(lines):
        if line.kind == "item":
            group.append(i)
        elif line.kind != "blank":
            close()
    close()
    return result


_LIST_COMMA = "\u2063"  # stands in for a comma inside a list of services while splitting
_CONTRAST = re.compile(
    r"[,;()\[\]|]|\s[-–—]\s|(?=(?<![\w-])(?:but|however|although|though|whereas|while|except"
    r"|excluding|apart from|otherwise)(?![\w-]))",
    re.IGNORECASE,
)


def _split(sentence: str, names: _Names, lex: _Lexicon) -> list[str]:
    """A sentence's clauses: at punctuation and contrast words, then by service (see module)."""
    spans = names.spans(sentence)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if re.fullmatch(r"\s*,\s*(?:(?:and|&|or)\s+)?", sentence[end:start], re.IGNORECASE):
            # a list of services ("vemo-core, charge-api and billing") is not two clauses
            sentence = (
                sentence[:end] + sentence[end:start].replace(",", _LIST_COMMA) + sentence[start:]
            )
    parts = [p.strip().replace(_LIST_COMMA, ",") for p in _CONTRAST.split(sentence)]
    parts = [p for p in parts if p and re.search(r"\w|[^\x00-\x7f]", p)]
    merged: list[str] = []
    waiting: list[str] = []
    for part in parts:  # a clause of names only joins the next one ("A, B: validated")
        if _names_only(part, names):
            waiting.append(part)
            continue
        merged.append(", ".join([*waiting, part]))
        waiting = []
    if waiting and merged:
        merged[-1] = ", ".join([merged[-1], *waiting])
    elif waiting:
        merged.append(", ".join(waiting))
    return [piece for part in merged for piece in _split_by_service(part, names, lex)]


def _names_only(part: str, names: _Names) -> bool:
    if not names.find(part):
        return False
    rest = re.findall(r"\w+(?:['-]\w+)*|[^\w\s,:;.!?&/\"'-]", names.without(part.lower()))
    return all(w in _CONNECTORS for w in rest)


def _split_by_service(part: str, names: _Names, lex: _Lexicon) -> list[str]:
    """ "vemo-core validated and charge-api pending" and "vemo-core ✅ charge-api ❌" are two
    clauses each; "validated vemo-core and charge-api" is one: a clause splits before each
    later service name (and its "and") only when every piece says something of its own."""
    if len(names.find(part)) < 2:
        return [part]
    cuts = set()
    for start, _ in names.spans(part)[1:]:
        c = re.search(
            r"(?:^|\s)((?:and|&|plus|as well as|or)\s+(?:(?:the|for|on|in|with)\s+)?)$",
            part[:start],
            re.IGNORECASE,
        )
        cuts.add(c.start(1) if c else start)
    bounds = [0, *sorted(cuts), len(part)]
    pieces = [part[a:b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]
    if all(names.find(p) and (_raw_hits(p, lex) or _negation_only(p, names)) for p in pieces):
        return pieces
    return [part]


def _coordinated(part: str, names: _Names) -> bool:
    """Whether the services a clause names are a plain list ("vemo-core and charge-api"), so
    that what it says is said of each; "vemo-core's calls to charge-api work" is not."""
    spans = names.spans(part)
    return all(
        re.fullmatch(
            r"[\s,/&+:]*(?:(?:and|or|plus|as well as|the|both)[\s,/&+:]*)*", part[a:b], re.I
        )
        for (_, a), (b, _) in zip(spans, spans[1:], strict=False)
    )


def _negated_names(part: str, names: _Names) -> bool:
    """ "but not charge-api", "except billing": the service is excluded from what was said."""
    return any(
        _is_negator(_governor(_WORD.findall(part[:start].lower()), _NAME_FILLER))
        for start, _ in names.spans(part)
    )


def _negation_only(part: str, names: _Names) -> list[_Hit]:
    """A clause naming a service with no vocabulary in it: excluded ("but not charge-api")
    is PENDING; otherwise negated ("charge-api not affected, no deploy") cannot be read."""
    if _negated_names(part, names):
        return [_Hit("P", 0)]
    if any(_is_negator(w) for w in _WORD.findall(names.without(part.lower()))):
        return [_Hit("H", 0)]
    return []


def _first_word(text: str) -> str:
    words = _WORD.findall(text.lower())
    return words[0] if words else ""


# --- 4. classify ----------------------------------------------------------------------------


def _raw_hits(text: str, lex: _Lexicon) -> list[tuple[int, int, str, str]]:
    """Vocabulary phrases in `text`, longest first, not overlapping: (start, end, kind, phrase)."""
    low = text.lower()
    taken: list[tuple[int, int, str, str]] = []
    for pattern, kind, phrase in lex.phrases:
        for m in pattern.finditer(low):
            if all(m.end() <= s or m.start() >= e for s, e, _, _ in taken):
                taken.append((m.start(), m.end(), kind, phrase))
    return sorted(t for t in taken if t[2] != "X")


def _governor(words: list[str], filler: frozenset[str]) -> str | None:
    """The nearest word before a phrase that is not filler: what may negate or modalise it."""
    for w in reversed(words):
        if w not in filler:
            return w
    return None


def _is_negator(w: str | None) -> bool:
    return w is not None and (w in _NEGATORS or w.endswith("n't"))


def _is_future(w: str | None) -> bool:
    return w is not None and (w in _FUTURE or w.endswith("'ll"))


@dataclass(frozen=True)
class _Setting:
    """Where a clause stands: what its sentence (so far) and leads are about, its mood."""

    topical: bool  # about validation
    delivery: bool  # about the deployment or pipeline (unfinished delivery is unfinished too)
    question: bool
    hypothetical: bool  # the main clause of an "if ..., ..." sentence
    elsewhere: bool = False  # the sentence is about another environment, not staging


def _classify(text: str, lex: _Lexicon, at: _Setting) -> list[_Hit]:
    topical, question, hypothetical = at.topical, at.question, at.hypothetical
    low = text.lower()
    hits: list[_Hit] = []
    found = _raw_hits(text, lex)
    for start, end, kind, phrase in found:
        before = _WORD.findall(low[:start])
        conditional = hypothetical or any(w in _CONDITIONALS for w in before)
        # "I can't say it's validated": a negation earlier in the clause that nothing else
        # took ("no regressions found and smoke passed" is fine)
        last_other = max((e for s, e, _, _ in found if e <= start), default=0)
        loose_negation = any(
            _is_negator(w) and not w.isdigit() for w in _WORD.findall(low[last_other:start])
        )
        if kind == "H":
            hits.append(_Hit("H", start))
        elif kind == "P":
            if _elsewhere(text):  # "prod rollout tomorrow" is not about staging
                continue
            if phrase not in CONTEXTUAL_WORDS or topical or at.delivery:
                hits.append(_Hit("P", start))
        elif kind == "V":
            gov = _governor(before, _FILLER)
            if conditional or question or _is_negator(gov) or _is_future(gov):
                hits.append(_Hit("P", start))
            elif gov in _HEDGE_WORDS or loose_negation:
                hits.append(_Hit("H", start))
            elif _DELIVERY_OBJECT.match(low, start) or at.elsewhere or _elsewhere(text):
                # "verified the deployment finished", "tested locally": not this validation
                hits.append(_Hit("W", start))
            elif phrase in ACTION_WORDS:
                hits.append(_Hit("A", start))
            elif phrase in OUTCOME_WORDS and not topical:
                hits.append(_Hit("W", start))
            else:
                hits.append(_Hit("V", start))
        elif kind == "F":
            gov = _governor(before, _FAILURE_FILLER)
            after = low[end:]
            if _is_negator(gov) or re.match(
                r"\s*(?:[:=]\s*)?(?:0|none|zero)\b|\s+any ?more\b", after
            ):
                hits.append(_Hit("N", start))
            elif conditional or _is_future(gov):
                hits.append(_Hit("P", start))
            elif question or gov in _HEDGE_WORDS or _elsewhere(text):
                hits.append(_Hit("H", start))
            elif phrase in CONTEXTUAL_WORDS and not topical:
                continue
            elif _names_the_bug(before, after, phrase, text, lex):
                hits.append(_Hit("N", start))
            else:
                hits.append(_Hit("F", start))
        else:  # a bare verb: "please verify", "will test", "still testing", "- verify"
            gov = _governor(before, _FILLER)
            firm = (
                question
                or conditional
                or _is_negator(gov)
                or _is_future(gov)
                or gov in _HEDGE_WORDS
                or (kind == "G" and gov in _PROGRESSIVE_AUX)
            )
            if firm:
                hits.append(_Hit("P", start))
            elif not [w for w in before if w not in ("please", "pls", "todo")]:
                hits.append(_Hit("I", start))
    if any(h.kind in "VAFW" for h in hits):  # "Checking logs: all good" reports an outcome
        hits = [h for h in hits if h.kind != "I"]
    return [_Hit("P", h.at) if h.kind == "I" else h for h in hits]


def _elsewhere(text: str) -> bool:
    return bool(_ELSEWHERE.search(text)) and not _STAGING.search(text)


def _names_the_bug(before: list[str], after: str, phrase: str, text: str, lex: _Lexicon) -> bool:
    """ "verified that the failed sessions now recover": the failure word names what the fix is
    for, not how validation went."""
    if phrase in ROLLBACK_WORDS:
        return False
    words = [w for w in before if not w.isdigit()]
    if not words or words[-1] not in _DETERMINERS:
        return False
    following = _WORD.findall(after[:40])
    if following and following[0] in _CHECK_NOUNS:
        return False
    rest = text.lower().replace(phrase, " ", 1)
    return bool(lex.successish.search(rest))


def _apply_box(line: _Line, clauses: list[_Clause], topical: bool, in_topical_list: bool) -> None:
    """`[ ]` leaves what the item says undone (in a list about validation, even a bare
    "- [ ] charge-api"); `[x]` marks it done when the item or its lead is about validation and
    the item says nothing else."""
    if line.box is None or not clauses:
        return
    said = [h for c in clauses for h in c.hits if h.kind != "T"]
    if line.box is False:
        for c in clauses:
            c.hits = [_Hit("P", h.at) for h in c.hits if h.kind != "T"]
        if in_topical_list and not said:
            clauses[0].hits.append(_Hit("P", 0))
    elif topical and not said:
        clauses[0].hits = [_Hit("V", 0)]


# --- 3. attribute ---------------------------------------------------------------------------


def _attribute(clauses: list[_Clause]) -> None:
    """Who each clause is about (see the module's rule 3)."""
    every = frozenset().union(*(c.names for c in clauses))
    in_sentence: dict[int, frozenset[str]] = {}  # every service each sentence names
    for c in clauses:
        in_sentence[c.sentence_no] = in_sentence.get(c.sentence_no, frozenset()) | c.names
    last_named: _Clause | None = None  # the latest clause naming a service
    for c in clauses:
        if c.names:
            c.subjects = c.names
            last_named = c
        elif last_named is not None and last_named.sentence_no == c.sentence_no:
            c.subjects = last_named.names
        elif in_sentence[c.sentence_no]:
            c.subjects = in_sentence[c.sentence_no]
        elif last_named is not None and last_named.line_no == c.line_no:
            c.subjects = last_named.names
        else:
            c.subjects = c.context_names or every


# --- 5. fold --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    kind: str
    at: tuple[int, int]  # (clause order, offset)
    clause: _Clause


def _fold(clauses: list[_Clause]) -> tuple[Claim, list[_Clause]]:
    hits = [_Placed(h.kind, (c.order, h.at), c) for c in clauses for h in c.hits]

    def of(*kinds: str) -> list[_Placed]:
        return [h for h in hits if h.kind in kinds]

    fails, pend, hedge = of("F"), of("P"), of("H")
    successes = of("V") if fails else of("V") + (of("A") if of("V", "N") else [])
    done_only = of("A") and not of("V", "N") and not fails

    def basis(found: list[_Placed]) -> list[_Clause]:
        return list({id(h.clause): h.clause for h in sorted(found, key=lambda h: h.at)}.values())

    if fails:
        if not successes:
            return Claim.FAILED, basis(fails)
        last_fail = max(h.at for h in fails)
        last_success = max(h.at for h in successes)
        if last_fail > last_success and _marked(fails, _RELAPSE, last_success):
            return Claim.FAILED, basis(fails + successes)
        later = [h for h in successes if h.at > last_fail]
        # a hedge between the failure and the success explains the failure ("flaky")
        hedged = bool(later) and any(h.at > min(v.at for v in later) for h in hedge)
        if later and not pend and not hedged and _marked(later, _RECOVERY, last_fail):
            return Claim.VALIDATED, basis(fails + successes)
        return Claim.AMBIGUOUS, basis(fails + successes + pend + hedge)
    if pend:
        if successes:
            return Claim.AMBIGUOUS, basis(successes + pend + hedge)
        return Claim.PENDING, basis(pend)
    if hedge or done_only:
        return Claim.AMBIGUOUS, basis(hits)
    if successes:
        return Claim.VALIDATED, basis(successes)
    if hits:  # bare outcome words, "no errors", or validation mentioned without a verdict
        return Claim.AMBIGUOUS, basis(hits)
    return Claim.UNRELATED, []


def _marked(found: list[_Placed], markers: frozenset[str], after: tuple[int, int]) -> bool:
    """Whether a clause of `found` has one of `markers` later in the note than `after`."""
    for h in found:
        for m in _WORD.finditer(h.clause.text.lower()):
            if m.group(0) in markers and (h.clause.order, m.start()) > after:
                return True
    return False


def _quote(clauses: list[_Clause]) -> str:
    sentences: dict[str, None] = {}  # in order, each once
    for c in clauses:
        if sum(len(t) + 3 for t in sentences) > QUOTE_LIMIT:
            break
        sentences.setdefault(" ".join(c.sentence.split()))
    text = " … ".join(sentences)
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1].rstrip() + "…"
    return text
