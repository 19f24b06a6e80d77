"""GitLab misbehaving: 429s and 5xx change nothing but the time taken; an endpoint that
keeps failing becomes `unknown`, never `pass`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import serve


def _statuses(doc: dict) -> dict[str, object]:
    return {
        p["service"]: (
            p["verdict"],
            [(f["rule"], f["status"], f["summary"]) for f in p["findings"]],
        )
        for p in doc["promotions"]
    }


def test_rate_limits_and_transient_errors_change_nothing(tmp_path: Path) -> None:
    for served in serve("by_the_book", tmp_path):
        clean_code, clean = served.check_json("evenergi/vemo-core!1")
        clean_requests = len(served.server.requests)
        served.server.faults.rate_limit_every = 7
        served.server.faults.error_every = 5
        served.server.reset_counts()
        code, faulty = served.check_json("evenergi/vemo-core!1")
        statuses = [r.status for r in served.server.requests]
        assert 429 in statuses and 502 in statuses
        assert len(served.server.requests) > clean_requests
        assert (code, _statuses(faulty)) == (clean_code, _statuses(clean))


def test_an_endpoint_that_keeps_failing_is_unknown_not_pass(tmp_path: Path) -> None:
    for served in serve("by_the_book", tmp_path):
        served.server.faults.fail_paths = {r"/pipelines/\d+/jobs$": 500}
        code, doc = served.check_json("evenergi/vemo-core!1")
        findings = {f["rule"]: f for f in doc["promotions"][0]["findings"]}
        assert doc["promotions"][0]["verdict"] == "incomplete"
        assert code == 3
        for rule in ("SH06", "SH07", "SH10"):
            assert findings[rule]["status"] == "unknown", findings[rule]
        assert "HTTP 500" in findings["SH10"]["summary"] or "500" in findings["SH06"]["summary"]


def test_forbidden_approvals_are_unknown(tmp_path: Path) -> None:
    for served in serve("by_the_book", tmp_path):
        served.world.projects["evenergi/vemo-core"].forbidden.add("approvals")
        code, doc = served.check_json("evenergi/vemo-core!1")
        sh02 = doc["promotions"][0]["findings"][1]
        assert sh02["rule"] == "SH02" and sh02["status"] == "unknown"
        assert "403" in sh02["summary"]
        assert code == 3


def test_a_revert_made_by_hand_whose_patch_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    """`Revert "…"` without git's line is recognised by its inverse patch; when the patch
    cannot be read, the hotfix must not be judged as still live (SH14 would not apply and
    the promotion would look compliant): the reverts are unknown."""
    for served in serve("eve_hand_made_revert", tmp_path):
        code, clean = served.check_json("evenergi/vemo-core!1")
        assert clean["promotions"][0]["verdict"] == "non_compliant"  # SH14: not rerun
        served.server.faults.fail_paths = {r"/repository/commits/[0-9a-f]{40}/diff$": 403}
        code, doc = served.check_json("evenergi/vemo-core!1")
        [promotion] = doc["promotions"]
        findings = {f["rule"]: f for f in promotion["findings"]}
        assert promotion["verdict"] == "incomplete" and code == 3
        assert findings["SH14"]["status"] == "unknown"
        assert "reverts the hotfix" in findings["SH14"]["summary"]


def test_a_pick_gitlab_recorded_but_will_not_show_is_not_left_out(tmp_path: Path) -> None:
    """The second pick is known only from GitLab's system note; when its commit cannot be
    read the picks are unknown, never the first attempt alone (which looks compliant)."""
    world = str(Path(__file__).parent / "worlds" / "second_pick_only_in_a_note.py")
    for served in serve(world, tmp_path):
        _, clean = served.check_json("evenergi/vemo-core!1")
        [promotion] = clean["promotions"]
        assert len(promotion["attempts"]) == 2 and promotion["verdict"] == "non_compliant"
        served.server.faults.fail_paths = {r"/repository/commits/[0-9a-f]{40}$": 403}
        code, doc = served.check_json("evenergi/vemo-core!1")
        [promotion] = doc["promotions"]
        assert promotion["verdict"] == "incomplete" and code == 3
        sh03 = next(f for f in promotion["findings"] if f["rule"] == "SH03")
        assert sh03["status"] == "unknown" and "403" in sh03["summary"]


def test_an_unreadable_release_branch_leaves_later_picks_and_reverts_unknown(
    tmp_path: Path,
) -> None:
    """Deployments show attempt 1 picked and reverted; only `release` itself shows that the
    revert was reverted (the hotfix is back, unreleased). Without the branch the audit
    cannot know that, so it must not judge attempt 1 as the end of the story."""
    for served in serve("eve_revert_reverted_not_released", tmp_path):
        _, clean = served.check_json("evenergi/vemo-core!1")
        assert clean["promotions"][0]["verdict"] == "non_compliant"
        served.server.faults.fail_paths = {r"/repository/commits$": 403}
        code, doc = served.check_json("evenergi/vemo-core!1")
        [promotion] = doc["promotions"]
        assert promotion["verdict"] == "incomplete" and code == 3
        assert {f["rule"]: f["status"] for f in promotion["findings"]}["SH14"] == "unknown"
