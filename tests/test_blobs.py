"""Compressed blobs: new ones in zstd, and rows written in zlib before still read back."""

import json
import zlib
from pathlib import Path

import pytest

from monitor import blobs
from monitor.analysis import pack_body, pack_document
from monitor.extract import Document, Paragraph
from monitor.store import Store

PAGE = ("<html><body><h1>Ketamine for alcohol use disorder</h1>"
        + "<p>85% of our patients stay sober after six sessions.</p>" * 200
        + "</body></html>").encode()
DOC = Document("Ketamine", (Paragraph("85% of our patients stay sober.", "text",
                                      ("http://127.0.0.1/study",)),), 7, 0)


@pytest.mark.parametrize("data", [b"", b"x", PAGE, bytes(range(256)) * 64])
def test_pack_round_trips_and_is_a_zstd_frame(data: bytes):
    packed = blobs.pack(data)
    assert packed[:4] == b"\x28\xb5\x2f\xfd"
    assert blobs.unpack(packed) == data


def test_a_page_packs_smaller_than_zlib_did():
    assert len(blobs.pack(PAGE)) <= len(zlib.compress(PAGE, 1))


@pytest.mark.parametrize("level", [1, 6, 9])
def test_zlib_blobs_from_before_still_unpack(level: int):
    assert blobs.unpack(zlib.compress(PAGE, level)) == PAGE


def test_a_zstd_magic_number_is_never_a_zlib_header():
    # zlib requires (CMF * 256 + FLG) % 31 == 0; the magic's first two bytes fail it.
    assert (0x28 * 256 + 0xB5) % 31 != 0
    with pytest.raises(zlib.error):
        zlib.decompress(b"\x28\xb5\x2f\xfd" + b"\0" * 16)


def test_a_corrupt_blob_raises_rather_than_returning_garbage():
    packed = bytearray(blobs.pack(PAGE))
    packed[len(packed) // 2] ^= 0xFF
    with pytest.raises(Exception):  # noqa: B017, PT011 - zstd's own error type
        blobs.unpack(bytes(packed))
    with pytest.raises(zlib.error):
        blobs.unpack(zlib.compress(PAGE)[:-8])


def _snapshot_and_evidence(store: Store, document_blob: bytes, body_blob: bytes) -> int:
    watch = store.ensure_watch("http://127.0.0.1/clinic")
    with store.transaction():
        snapshot_id = store.add_snapshot(
            watch.id, fetched_at=1.0, http_status=200, body_sha256="b", doc_sha256="d",
            document=DOC, disclaimers={}, rules_digest="r", added=[], removed=[],
            packed_document=document_blob)
        store.add_evidence(snapshot_id, url=watch.url, final_url=None, fetched_at=1.0,
                           http_status=200, headers={}, body=PAGE, sha256="s",
                           packed_body=body_blob)
    return snapshot_id


def test_the_store_reads_documents_and_evidence_in_either_format(tmp_path: Path):
    old_document = zlib.compress(json.dumps(DOC.to_dict()).encode(), 6)
    with Store.in_dir(tmp_path) as store:
        new_id = _snapshot_and_evidence(store, pack_document(DOC), pack_body(PAGE))
        old_id = _snapshot_and_evidence(store, old_document, zlib.compress(PAGE, 1))
        for snapshot_id in (new_id, old_id):
            assert store.snapshot(snapshot_id).document == DOC
            assert store.evidence_for_snapshot(snapshot_id).body == PAGE
        stored = store.db.execute("SELECT document FROM snapshots WHERE id = ?",
                                  [new_id]).fetchone()[0]
        assert stored[:4] == b"\x28\xb5\x2f\xfd"
