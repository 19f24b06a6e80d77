"""Evidence bundles from a real sweep store: written, verified, and caught when tampered with.

One sweep of the `failed_reverted_corrected` world (over HTTP, into a SQLite store) feeds a
bundle written once per module; each test tampers with its own copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.bundle import (
    FORMAT,
    MANIFEST,
    BundleError,
    bundle_files,
    seal_manifest,
    unsafe_path,
    verify,
    write_bundle,
)
from auditor.report import json_report, junit
from auditor.report.csv_export import promotions_csv
from auditor.store import EvidenceStore, StoreError
from tests.conftest import serve

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
REPORTS = ("report.json", "junit.xml", "promotions.csv")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store holding one complete sweep run (id 1) of two promotions."""
    tmp = tmp_path_factory.mktemp("sweep")
    for served in serve("failed_reverted_corrected", tmp):
        db = tmp / "auditor.db"
        result = served.sweep_json(db)
        assert result.exit_code == 0, result.output
        yield db


@pytest.fixture(scope="module")
def pristine(swept: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reports first (as the CLI will write them), then the bundle beside them."""
    out = tmp_path_factory.mktemp("bundle") / "out"
    out.mkdir()
    with EvidenceStore(swept) as store:
        report = store.report(1)
        (out / "report.json").write_text(
            json_report.render(report, store.extras(1)), encoding="utf-8"
        )
        (out / "junit.xml").write_text(junit.render(report), encoding="utf-8")
        (out / "promotions.csv").write_text(promotions_csv(report), encoding="utf-8")
        write_bundle(store, 1, out, now=NOW)
    return out


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(pristine, copy)
    return copy


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text(encoding="utf-8"))


def test_fresh_bundle_verifies_and_lists_every_file(bundle: Path) -> None:
    result = verify(bundle)
    assert result.ok, result.problems()
    assert result.run_id == 1
    on_disk = sorted(
        p.relative_to(bundle).as_posix()
        for p in bundle.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )
    assert sorted(bundle_files(bundle)) == on_disk
    for name in REPORTS:
        assert name in on_disk
    doc = _manifest(bundle)
    assert doc["format"] == FORMAT == "auditor.bundle/v1"
    assert doc["tool"]["name"] == "auditor" and doc["tool"]["version"]
    assert doc["run_id"] == 1
    assert doc["generated_at"] == "2026-11-26T15:00:00Z"
    for entry in doc["files"]:
        data = (bundle / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)


def test_every_json_file_is_valid_and_responses_are_byte_exact(swept: Path, bundle: Path) -> None:
    json_files = sorted(bundle.rglob("*.json"))
    assert json_files
    for path in json_files:
        json.loads(path.read_text(encoding="utf-8"))
    responses = sorted((bundle / "evidence" / "responses").iterdir())
    assert responses
    with EvidenceStore(swept) as store:
        for path in responses:
            digest = path.name.split(".")[0]
            # named by the hash of GitLab's bytes, and the bytes are the store's
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
            stored = store.response(digest)
            assert stored is not None and bytes(stored["body"]) == path.read_bytes()


def test_each_promotion_has_its_findings_and_its_mr_responses(bundle: Path) -> None:
    run = json.loads((bundle / "evidence" / "run.json").read_text(encoding="utf-8"))
    assert [c["by"] for c in run["cut_offs"]] == ["maria.release"]
    assert {(p["project"], p["iid"]) for p in run["promotions"]} == {
        ("evenergi/vemo-core", 1),
        ("evenergi/vemo-core", 2),
    }
    for entry in run["promotions"]:
        doc = json.loads((bundle / entry["file"]).read_text(encoding="utf-8"))
        promotion = doc["promotion"]
        assert promotion["mr"]["iid"] == entry["iid"]
        assert [f["rule"] for f in promotion["findings"]] == [f"SH{n:02d}" for n in range(1, 15)]
        urls = [r["url"] for r in doc["responses"]]
        mine = f"merge_requests/{entry['iid']}"
        other = f"merge_requests/{3 - entry['iid']}"
        assert any(mine in u for u in urls), urls
        # evidence is content-addressed: another MR's answer appears only when its body is
        # byte-identical to one this promotion rests on (an empty list, say)
        for theirs in (r for r in doc["responses"] if other in r["url"]):
            assert any(
                r["sha256"] == theirs["sha256"] and other not in r["url"] for r in doc["responses"]
            ), theirs["url"]
        assert any("/deployments" in u for u in urls)  # the service's staging deployments
        assert any("develop/pipelines" in u for u in urls)  # the orchestration pipelines
        for response in doc["responses"]:
            assert (bundle / response["file"]).is_file()


def test_one_changed_byte_in_any_file_names_that_file(bundle: Path) -> None:
    files = [*bundle_files(bundle), MANIFEST]
    kinds = {Path(f).suffix for f in files}
    assert {".json", ".xml", ".csv"} <= kinds  # reports and evidence alike
    for rel in files:
        path = bundle / rel
        original = path.read_bytes()
        tampered = bytearray(original)
        tampered[len(tampered) // 2] ^= 0x01
        path.write_bytes(bytes(tampered))
        try:
            result = verify(bundle)
            assert not result.ok, rel
            named = result.changed + tuple(result.errors)
            assert any(rel in item for item in named), (rel, result.problems())
            if rel != MANIFEST:
                assert result.changed == (rel,), result.problems()
        finally:
            path.write_bytes(original)
    assert verify(bundle).ok


def test_added_and_removed_files_are_named(bundle: Path) -> None:
    (bundle / "evidence" / "extra.txt").write_text("slipped in", encoding="utf-8")
    (bundle / "junit.xml").unlink()
    result = verify(bundle)
    assert not result.ok
    assert result.added == ("evidence/extra.txt",)
    assert result.removed == ("junit.xml",)
    assert result.changed == ()
    assert any("evidence/extra.txt" in line for line in result.problems())
    assert any("junit.xml" in line for line in result.problems())


@pytest.mark.parametrize("evil", ["../outside.txt", "/etc/passwd", "evidence/../../outside.txt"])
def test_path_traversal_in_manifest_is_refused_not_followed(bundle: Path, evil: str) -> None:
    outside = bundle.parent / "outside.txt"
    outside.write_text("not part of the bundle", encoding="utf-8")
    data = outside.read_bytes()
    doc = _manifest(bundle)
    # A careful forger: the entry carries the outside file's true hash and the manifest's
    # self-digest is recomputed, so only the path itself can give it away.
    doc["files"].append(
        {"path": evil, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    )
    (bundle / MANIFEST).write_bytes(seal_manifest(doc))
    result = verify(bundle)
    assert not result.ok
    assert result.refused == (evil,)
    assert result.changed == result.added == result.removed == ()
    assert any(evil in line for line in result.problems())


def test_unsafe_paths() -> None:
    for path in ("..", "a/../b", "/abs", "C:/x", "a//b", "./a", "a\\b", "", MANIFEST, None, 3):
        assert unsafe_path(path) is not None, path
    for path in ("report.json", "evidence/responses/ab.json", "a..b/c"):
        assert unsafe_path(path) is None, path


def test_symlink_is_reported_not_followed(bundle: Path) -> None:
    secret = bundle.parent / "secret.txt"
    secret.write_text("outside", encoding="utf-8")
    (bundle / "evidence" / "link.json").symlink_to(secret)
    result = verify(bundle)
    assert not result.ok
    assert result.added == ("evidence/link.json",)
    assert any("link.json" in e and "not a regular file" in e for e in result.errors)


def test_broken_or_missing_manifest(bundle: Path, tmp_path: Path) -> None:
    (bundle / MANIFEST).write_text("{not json", encoding="utf-8")
    result = verify(bundle)
    assert not result.ok and any(MANIFEST in e for e in result.errors)
    (bundle / MANIFEST).write_text(json.dumps({"format": "other"}), encoding="utf-8")
    assert not verify(bundle).ok
    (bundle / MANIFEST).unlink()
    assert not verify(bundle).ok
    assert not verify(tmp_path / "nowhere").ok


def test_write_refuses_an_existing_bundle_and_a_missing_run(
    swept: Path, pristine: Path, tmp_path: Path
) -> None:
    with EvidenceStore(swept) as store:
        with pytest.raises(BundleError, match="already exists"):
            write_bundle(store, 1, pristine)
        with pytest.raises(StoreError, match="no run 99"):
            write_bundle(store, 99, tmp_path / "new")
