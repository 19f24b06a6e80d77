"""`auditor signoff --format html|pdf` over a store swept from a simulated world: the page
lists the promotions and their verdicts, carries the sign-off block, shows hostile GitLab
text as text and loads nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.report.pdf import LocalOnlyFetcher, render_pdf
from tests.conftest import Served, serve
from tests.test_reports_html_pdf import assert_self_contained, pdf_text

WEEK = ("--from", "2026-11-16", "--to", "2026-11-22")
HOSTILE = "Fix <script>alert(1)</script> take two"
TITLES = ("Fix charger session timeout", HOSTILE)
REFS = ("evenergi/vemo-core!1", "evenergi/vemo-core!2")
SIGN_OFF = ("Sign-off", "Name", "Role", "Date (UTC)", "Decision", "approve", "reject", "Reason")


@dataclass(frozen=True)
class Signed:
    served: Served
    db: Path
    tmp: Path
    html: str
    html_code: int
    pdf: Path
    pdf_code: int


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    tmp = tmp_path_factory.mktemp("signoff-page")
    for served in serve("failed_reverted_corrected", tmp):
        # Only the API's view changes (as a renamed MR would): the git history keeps its title.
        served.world.projects["evenergi/vemo-core"].mrs[2].title = HOSTILE
        now = ("--now", served.world.now.isoformat())
        db = tmp / "store.db"
        swept = served.run("sweep", *WEEK, "--db", str(db), "--format", "json", *now)
        assert swept.exit_code == 0, swept.output
        args = ("signoff", "--service", "vemo-core", "--db", str(db), *now)
        html = served.run(*args, "--format", "html")
        pdf = tmp / "x.pdf"
        printed = served.run(*args, "--format", "pdf", "--output", str(pdf))
        assert printed.stdout == "", printed.output
        yield Signed(served, db, tmp, html.stdout, html.exit_code, pdf, printed.exit_code)


def test_clean_world_signs_off_with_exit_0(signed: Signed) -> None:
    assert signed.html_code == 0
    assert signed.pdf_code == 0


def test_html_lists_promotions_verdicts_and_the_sign_off_block(signed: Signed) -> None:
    page = assert_self_contained(signed.html, signed.served.url, set())
    text = " ".join(page.text.split())
    assert "Staging sign-off: vemo-core" in text
    assert "Ready for sign-off" in text and "nothing blocks." in text
    assert "since the last cut-off at" in text
    for ref, title in zip(REFS, TITLES, strict=True):
        assert f"{ref} {title} " in text
        assert f'href="{signed.served.url}/{ref.replace("!", "/-/merge_requests/")}"' in signed.html
    assert text.count("COMPLIANT") == 2
    assert "On staging now" in text and "deployment 705" in text
    assert "What blocks sign-off Nothing." in text
    for word in SIGN_OFF:
        assert word in text
    assert signed.html.count('class="fill"') >= 5  # lines to write on


def test_hostile_title_is_text(signed: Signed) -> None:
    assert "<script>" not in signed.html
    assert "Fix &lt;script&gt;alert(1)&lt;/script&gt; take two" in signed.html
    fetcher = LocalOnlyFetcher()
    render_pdf(signed.html, fetcher=fetcher)
    assert fetcher.refused == []


def test_pdf_says_the_same(signed: Signed) -> None:
    assert signed.pdf.read_bytes().startswith(b"%PDF")
    text, pages = pdf_text(signed.pdf)
    assert pages >= 1
    assert "Staging sign-off: vemo-core" in text
    solid = "".join(text.split())  # a table cell may wrap anywhere
    for ref, title in zip(REFS, TITLES, strict=True):
        assert ref in solid and "".join(title.split()) in solid
    assert text.count("COMPLIANT") == 2
    for word in SIGN_OFF:
        assert word in text


def test_pdf_needs_output(signed: Signed) -> None:
    result = signed.served.run(
        "signoff", "--service", "vemo-core", "--db", str(signed.db), "--format", "pdf"
    )
    assert result.exit_code == 2
    assert "--output" in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(signed.tmp.glob("*.pdf"))[1:]  # nothing but the fixture's x.pdf


def test_signoff_of_a_release_commit_scopes_to_what_it_carries(tmp_path: Path) -> None:
    """The first hotfix's deployment commit carries !1's pick but not !2's."""
    for served in serve("failed_reverted_corrected", tmp_path):
        db = tmp_path / "a.db"
        served.sweep_json(db)
        project = served.world.projects["evenergi/vemo-core"]
        first = next(d for d in project.deployments if d.created_at.day == 18)
        now = served.world.now.isoformat()
        scoped = served.run(
            "signoff",
            "--service",
            "vemo-core",
            "--db",
            str(db),
            "--release",
            first.sha,
            "--format",
            "json",
            "--now",
            now,
        )
        doc = json.loads(scoped.stdout)
        assert [p["iid"] for p in doc["promotions"]] == [1]
        whole = served.run(
            "signoff", "--service", "vemo-core", "--db", str(db), "--format", "json", "--now", now
        )
        assert [p["iid"] for p in json.loads(whole.stdout)["promotions"]] == [1, 2]
