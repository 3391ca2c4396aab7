"""The watch list: intervals, URL validation, import/export, sitemap discovery; the unit file."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import claimwatch

from monitor.errors import InputError
from monitor.watches import format_duration, parse_duration, parse_watch_file, validate_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("45", 45),
    ("2w", 1209600),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5x", "1h and a bit", "3s"])
def test_bad_durations_say_what_is_allowed(bad):
    with pytest.raises(InputError, match="duration|too short"):
        parse_duration(bad)


def test_validate_url():
    assert validate_url(" HTTPS://Clinic.Example ") == "https://clinic.example/"
    assert validate_url("http://x.example/a?b=1#frag") == "http://x.example/a?b=1"
    for bad in ("ftp://x.example/", "x.example", "http:///path", "javascript:alert(1)"):
        with pytest.raises(InputError):
            validate_url(bad)


def test_watch_file_formats_and_errors_name_the_line():
    plain = "# clinics\nhttp://a.example/\n\nhttps://b.example/x\n"
    assert [s.url for s in parse_watch_file(plain, "w.txt")] == [
        "http://a.example/", "https://b.example/x"]
    yml = "- http://a.example/\n- {url: 'http://b.example/', every: 1d, tags: [ohio]}\n"
    specs = list(parse_watch_file(yml, "w.yaml"))
    assert specs[1].interval == 86400 and specs[1].tags == ("ohio",)
    with pytest.raises(InputError, match=r"w.txt:2: 'ftp://x/' is not an http\(s\) URL"):
        list(parse_watch_file("http://a.example/\nftp://x/\n", "w.txt"))
    with pytest.raises(InputError, match="watch 1: unknown key 'interval'"):
        list(parse_watch_file("- {url: 'http://a.example/', interval: 5}\n", "w.yaml"))


def test_watch_commands_round_trip(tmp_path):
    state = str(tmp_path / "state")
    add = claimwatch("watch", "add", "http://a.example/", "https://b.example/p", "--every",
                     "2h", "--tag", "ohio", "--state", state)
    assert add.returncode == 0 and "2 watch(es) added" in add.stdout
    again = claimwatch("watch", "add", "http://a.example/", "--every", "1h", "--state", state)
    assert "0 watch(es) added, 1 updated" in again.stdout
    listed = json.loads(claimwatch("watch", "list", "--json", "--state", state).stdout)
    assert {w["url"]: w["every"] for w in listed} == {"http://a.example/": "1h",
                                                       "https://b.example/p": "2h"}
    exported = claimwatch("watch", "export", "--state", state).stdout
    (tmp_path / "w.yaml").write_text(exported)
    other = str(tmp_path / "other")
    imported = claimwatch("watch", "import", str(tmp_path / "w.yaml"), "--state", other)
    assert imported.returncode == 0 and "2 watch(es) added" in imported.stdout
    def carried(state_dir):
        rows = json.loads(claimwatch("watch", "list", "--json", "--state", state_dir).stdout)
        return [(w["url"], w["every"], w["tags"]) for w in rows]

    assert carried(other) == carried(state)
    removed = claimwatch("watch", "remove", "http://a.example/", "--state", state)
    assert removed.returncode == 0
    assert [w["url"] for w in json.loads(claimwatch("watch", "list", "--json", "--state",
                                                    state).stdout)] == ["https://b.example/p"]
    missing = claimwatch("watch", "remove", "http://nope.example/", "--state", state)
    assert missing.returncode == 2 and "not watched" in missing.stderr


def test_import_is_idempotent_and_rejects_bad_lines(tmp_path):
    state = str(tmp_path / "state")
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(f"http://c{i}.example/" for i in range(300)))
    first = claimwatch("watch", "import", str(listing), "--state", state)
    assert "300 watch(es) added" in first.stdout
    second = claimwatch("watch", "import", str(listing), "--state", state)
    assert "0 watch(es) added, 300 updated" in second.stdout
    listing.write_text("http://ok.example/\nmailto:x@y\n")
    bad = claimwatch("watch", "import", str(listing), "--state", state)
    assert bad.returncode == 2 and f"{listing}:2:" in bad.stderr


def test_watch_add_from_a_sitemap(site, tmp_path):
    site.serve("/sitemap.xml", (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f'<sitemap><loc>{site.url("/pages.xml")}</loc></sitemap></sitemapindex>'),
        content_type="application/xml")
    site.serve("/pages.xml", (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f'<url><loc>{site.url("/a/")}</loc></url><url><loc>{site.url("/b/")}</loc></url>'
        '</urlset>'), content_type="application/xml")
    state = str(tmp_path / "state")
    run = claimwatch("watch", "add", "--sitemap", site.url("/sitemap.xml"), "--state", state)
    assert run.returncode == 0, run.stderr
    urls = [w["url"] for w in json.loads(claimwatch("watch", "list", "--json", "--state",
                                                    state).stdout)]
    assert urls == [site.url("/a/"), site.url("/b/")]


UNIT = ROOT / "systemd" / "claimwatch.service"


def test_unit_file_is_hardened():
    text = UNIT.read_text()
    for directive in ("Type=notify", "WatchdogSec=", "User=claimwatch", "StateDirectory=",
                      "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                      "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                      "MemoryMax=", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert directive in text, directive


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_unit_file_passes_systemd_analyze_verify(tmp_path):
    exe = Path(sys.executable).parent / "claimwatch"
    unit = tmp_path / "claimwatch.service"
    unit.write_text(UNIT.read_text().replace("/opt/claimwatch/bin/claimwatch", str(exe)))
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "", run.stderr  # verify only warns on ignored bad values
