"""Evidence export: the page a finding was made from, as a standard WARC file.

A reviewer escalating a finding must show exactly what the page said. Every snapshot keeps the
raw response body (compressed) with its SHA-256, fetch time, URL and headers; this module writes
it as WARC (ISO 28500) records that any web-archive tool can open: warcinfo, the request, the
response, and a metadata record naming the finding.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import InputError
from monitor.store import Evidence, Store, StoredFinding

# Scrapy hands us the decoded body: these headers no longer describe it.
_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


def evidence_for_finding(store: Store, finding_id: int) -> tuple[StoredFinding, Evidence]:
    """The finding and the response it was first found in; InputError if either is missing."""
    finding = store.finding(finding_id)
    if finding is None:
        raise InputError(f"no finding #{finding_id}")
    snapshot_id = finding.first_snapshot_id
    evidence = store.evidence_for_snapshot(snapshot_id) if snapshot_id else None
    if evidence is None:
        raise InputError(f"finding #{finding_id} has no stored page (snapshot {snapshot_id})")
    return finding, evidence


def write_warc(out: str | Path, finding: StoredFinding, evidence: Evidence,
               software: str = "claimwatch") -> Path:
    """Write the evidence of one finding as a gzipped WARC file."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.fromtimestamp(evidence.fetched_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = evidence.final_url or evidence.url
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {
            "software": software,
            "format": "WARC File Format 1.1",
            "description": f"Evidence for claimwatch finding #{finding.id}",
        }))
        request = writer.create_warc_record(
            url, "request", payload=io.BytesIO(b""), warc_headers_dict={"WARC-Date": when},
            http_headers=StatusAndHeaders(f"GET {_path_of(url)} HTTP/1.1",
                                          [("Host", _host_of(url))], is_http_request=True))
        writer.write_record(request)
        status = evidence.http_status or 200
        headers = [(k, v) for k, v in evidence.headers.items()
                   if k.lower() not in _DROPPED_HEADERS]
        headers.append(("Content-Length", str(len(evidence.body))))
        response = writer.create_warc_record(
            url, "response", payload=io.BytesIO(evidence.body), length=len(evidence.body),
            warc_headers_dict={"WARC-Date": when,
                               "WARC-Concurrent-To": request.rec_headers["WARC-Record-ID"],
                               "WARC-Payload-Digest": f"sha256:{evidence.sha256}"},
            http_headers=StatusAndHeaders(f"{status} {_reason(status)}", headers,
                                          protocol="HTTP/1.1"))
        writer.write_record(response)
        meta = json.dumps({
            "finding": finding.id, "rule": finding.rule, "category": finding.category,
            "severity": finding.severity, "text": finding.text, "message": finding.message,
            "link": finding.link, "requested_url": evidence.url, "body_sha256": evidence.sha256,
            "fetched_at": when,
        }, ensure_ascii=False, indent=1).encode()
        writer.write_record(writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(meta), length=len(meta),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Date": when,
                               "WARC-Refers-To": response.rec_headers["WARC-Record-ID"]}))
    return path


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
