"""The downloader against a local HTTP server on 127.0.0.1 (mirrors, Range resume, checksums)."""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _fabricate import make_cub, small_spec

from proxygml_lite.data import load_dataset
from proxygml_lite.data import prepare as P
from proxygml_lite.data.download import ChecksumError, DownloadError, RemoteFile, download_file, file_checksum

PAYLOAD = bytes(range(256)) * 64  # 16 KiB
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FileServer:
    """Serves ``files[path]``; ``behaviour[path]``: "ok", "404", "html", "norange", "cut:N" (stop after N bytes)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                rng = self.headers.get("Range")
                server.requests.append((path, rng))
                how = server.behaviour.get(path, "ok")
                data = server.files.get(path)
                if how == "404" or data is None:
                    self.send_error(404)
                    return
                if how == "html":
                    body = b"<html>quota exceeded</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = 0
                if rng and how != "norange":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if how.startswith("cut:"):
                    self.wfile.write(body[: int(how[4:])])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server():
    srv = FileServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def remote(server, *paths, checksum=PAYLOAD_MD5):
    return RemoteFile(
        "blob.bin", mirrors=tuple(server.url(p) for p in paths), md5=checksum, homepage="https://example.org/dataset"
    )


def fetch(rf, dest):
    messages = []
    path = download_file(rf, dest, progress=False, timeout=10, log=messages.append)
    return path, messages


def test_first_mirror_404_second_serves(server, tmp_path):
    server.files["/b/blob.bin"] = PAYLOAD
    path, messages = fetch(remote(server, "/a/blob.bin", "/b/blob.bin"), tmp_path)
    assert path == tmp_path / "blob.bin" and path.read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["/a/blob.bin", "/b/blob.bin"]
    assert any("HTTP 404" in m for m in messages)
    assert not (tmp_path / "blob.bin.part").exists()
    # already there and verified: no request at all
    n = len(server.requests)
    _, messages = fetch(remote(server, "/b/blob.bin"), tmp_path)
    assert len(server.requests) == n and any("already present" in m for m in messages)


def test_resume_partial_file_with_range(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:5000])
    path, messages = fetch(remote(server, "/f/blob.bin"), tmp_path)
    assert server.requests == [("/f/blob.bin", "bytes=5000-")]
    assert path.read_bytes() == PAYLOAD and any("resuming at 5,000" in m for m in messages)


def test_interrupted_transfer_resumes_on_the_next_run(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    server.behaviour["/f/blob.bin"] = "cut:3000"
    with pytest.raises(DownloadError, match="kept"):
        fetch(remote(server, "/f/blob.bin"), tmp_path)
    assert (tmp_path / "blob.bin.part").stat().st_size == 3000
    assert not (tmp_path / "blob.bin").exists()
    server.behaviour["/f/blob.bin"] = "ok"
    path, _ = fetch(remote(server, "/f/blob.bin"), tmp_path)
    assert server.requests[-1] == ("/f/blob.bin", "bytes=3000-")
    assert path.read_bytes() == PAYLOAD


def test_interrupted_on_one_mirror_resumed_from_the_next(server, tmp_path):
    server.files["/a/blob.bin"] = PAYLOAD
    server.files["/b/blob.bin"] = PAYLOAD
    server.behaviour["/a/blob.bin"] = "cut:1234"
    path, _ = fetch(remote(server, "/a/blob.bin", "/b/blob.bin"), tmp_path)
    assert server.requests == [("/a/blob.bin", None), ("/b/blob.bin", "bytes=1234-")]
    assert path.read_bytes() == PAYLOAD


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    server.behaviour["/f/blob.bin"] = "norange"
    (tmp_path / "blob.bin.part").write_bytes(b"\xff" * 700)
    path, _ = fetch(remote(server, "/f/blob.bin"), tmp_path)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_checked_not_downloaded_again(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    path, _ = fetch(remote(server, "/f/blob.bin"), tmp_path)  # server answers 416
    assert path.read_bytes() == PAYLOAD and server.requests == [("/f/blob.bin", f"bytes={len(PAYLOAD)}-")]


def test_checksum_mismatch_deletes_the_part_and_tries_the_next_mirror(server, tmp_path):
    server.files["/bad/blob.bin"] = PAYLOAD[::-1]
    server.files["/good/blob.bin"] = PAYLOAD
    path, messages = fetch(remote(server, "/bad/blob.bin", "/good/blob.bin"), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert any("checksum mismatch" in m for m in messages)


def test_checksum_mismatch_everywhere(server, tmp_path):
    server.files["/bad/blob.bin"] = PAYLOAD[::-1]
    with pytest.raises(DownloadError) as err:
        fetch(remote(server, "/bad/blob.bin"), tmp_path)
    assert "checksum mismatch" in str(err.value) and PAYLOAD_MD5 in str(err.value)
    assert not (tmp_path / "blob.bin.part").exists() and not (tmp_path / "blob.bin").exists()


def test_users_file_with_wrong_checksum_is_never_deleted(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    mine = tmp_path / "blob.bin"
    mine.write_bytes(b"my own file")
    with pytest.raises(ChecksumError) as err:
        fetch(remote(server, "/f/blob.bin"), tmp_path)
    assert "left in place" in str(err.value) and str(mine) in str(err.value)
    assert mine.read_bytes() == b"my own file" and server.requests == []


def test_all_mirrors_fail_gives_manual_steps(server, tmp_path):
    server.files["/html/blob.bin"] = PAYLOAD
    server.behaviour["/html/blob.bin"] = "html"
    rf = remote(server, "/gone/blob.bin", "/html/blob.bin")
    with pytest.raises(DownloadError) as err:
        fetch(rf, tmp_path / "archives")
    msg = str(err.value)
    assert "HTTP 404" in msg and "web page" in msg
    assert "Manual steps for blob.bin" in msg and "https://example.org/dataset" in msg
    assert f"Put it at: {tmp_path / 'archives' / 'blob.bin'}" in msg and f"md5 {PAYLOAD_MD5}" in msg
    assert server.url("/gone/blob.bin") in msg


def test_unreachable_host_fails_over(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    closed = server.base.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
    rf = RemoteFile("blob.bin", mirrors=(closed + "/x", server.url("/f/blob.bin")), md5=PAYLOAD_MD5)
    path, _ = fetch(rf, tmp_path)
    assert path.read_bytes() == PAYLOAD


def test_sha256_checksums(server, tmp_path):
    server.files["/f/blob.bin"] = PAYLOAD
    rf = RemoteFile("blob.bin", mirrors=(server.url("/f/blob.bin"),), sha256=hashlib.sha256(PAYLOAD).hexdigest())
    path, _ = fetch(rf, tmp_path)
    assert path.read_bytes() == PAYLOAD
    with pytest.raises(ValueError, match="checksum"):
        RemoteFile("x.bin", mirrors=("http://127.0.0.1/x",))


def test_prepare_with_download_end_to_end(server, tmp_path, monkeypatch):
    build = tmp_path / "build"
    archive = make_cub(build)
    server.files["/mirror2/CUB_200_2011.tgz"] = archive.read_bytes()
    spec = small_spec(
        "cub200",
        md5s={"CUB_200_2011.tgz": file_checksum(archive)},
        first_test_class=3,
        counts={"train": (2, 5), "test": (2, 5)},
        mirrors={
            "CUB_200_2011.tgz": (server.url("/mirror1/CUB_200_2011.tgz"), server.url("/mirror2/CUB_200_2011.tgz"))
        },
    )
    monkeypatch.setitem(P.SPECS, "cub200", spec)
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="--download"):
        P.prepare_dataset("cub200", root, progress=False, log=lambda m: None)
    assert server.requests == []
    P.prepare_dataset("cub200", root, download=True, progress=False, log=lambda m: None)
    assert (root / "archives" / "CUB_200_2011.tgz").read_bytes() == archive.read_bytes()
    assert load_dataset("cub200", root, "test").classes == ["003.Bird_C", "004.Bird_D"]
    assert sorted(os.listdir(root / "archives")) == ["CUB_200_2011.tgz"]
