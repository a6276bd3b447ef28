"""`munit data get` in a new process against a real HTTP server on 127.0.0.1 (standard library,
honouring range requests) that serves archives these tests build from generated images. No test
touches the internet: every download is pointed at the local server with --url, or goes through the
library with a dataset whose addresses are local.
"""

from __future__ import annotations

import http.server
import io
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zipfile

import pytest
from PIL import Image

from munit_cli import datasets
from munit_cli.download import DownloadError, download, partial_path

from .test_cli_processes import munit


def _png(colour: tuple[int, int, int], size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def afhq_zip() -> bytes:
    """AFHQ's archive layout: one top folder, train/ and val/, a folder per domain."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split, n in (("train", 6), ("val", 2)):
            for domain, colour in (("cat", (200, 120, 40)), ("dog", (60, 60, 200)), ("wild", (20, 160, 20))):
                for i in range(n):
                    z.writestr(f"afhq/{split}/{domain}/{domain}_{i}.png", _png(colour))
    return buffer.getvalue()


def edges_tar() -> bytes:
    """pix2pix's layout: side-by-side pairs (edges left, photo right) in train/ and val/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for split, n in (("train", 4), ("val", 1)):
            for i in range(n):
                pair = Image.new("RGB", (32, 16), (255, 255, 255))
                pair.paste((200, 30, 30), (16, 0, 32, 16))
                data = io.BytesIO()
                pair.save(data, format="JPEG")
                info = tarfile.TarInfo(f"edges2shoes/{split}/{i}_AB.jpg")
                info.size = len(data.getvalue())
                t.addfile(info, io.BytesIO(data.getvalue()))
    return buffer.getvalue()


class Server:
    """Serves ``files`` (path -> bytes). ``cut_first`` paths send only half their bytes on the first
    request (announcing the whole length), as a dropped connection would; ``pages`` send HTML."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.pages: set[str] = set()
        self.cut_first: set[str] = set()
        self.stall_first: set[str] = set()  # send half, then wait (a slow link the user gives up on)
        self.reset_first: set[str] = set()  # send half, then reset the connection (RST, not a clean close)
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path in server.pages:
                    body = b"<!DOCTYPE html><html><body>This file has moved.</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path not in server.files:
                    self.send_error(404)
                    return
                data = server.files[self.path]
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if self.path in server.cut_first:
                    server.cut_first.discard(self.path)
                    body = body[:len(body) // 2]
                if self.path in server.reset_first:
                    server.reset_first.discard(self.path)
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                if self.path in server.stall_first:
                    server.stall_first.discard(self.path)
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    time.sleep(20)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_a_full_download_lands_in_the_training_layout(server, tmp_path):
    server.files["/afhq.zip"] = afhq_zip()
    proc = munit("data", "get", "afhq", "--url", f"{server.url}/afhq.zip", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for split, n in (("train", 6), ("val", 2)):
        for domain in ("cat", "dog", "wild"):
            assert len(list((tmp_path / "data/afhq" / split / domain).glob("*.png"))) == n
    assert proc.stdout.strip().splitlines()[-1] == "next: munit train data/afhq --source dog --target cat"
    assert "checked 24 images" in proc.stdout
    assert not (tmp_path / "data/afhq.zip").exists()  # unpacked: the archive is removed


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    data = afhq_zip()
    server.files["/afhq.zip"] = data
    server.cut_first.add("/afhq.zip")
    first = munit("data", "get", "afhq", "--url", f"{server.url}/afhq.zip", cwd=tmp_path)
    assert first.returncode == 1
    assert "run the same command again to resume it" in first.stderr
    assert "Traceback" not in first.stderr
    assert not (tmp_path / "data/afhq").exists()
    part = tmp_path / "data/afhq.zip.part"
    assert part.stat().st_size == len(data) // 2

    second = munit("data", "get", "afhq", "--url", f"{server.url}/afhq.zip", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert server.requests[-1] == ("/afhq.zip", f"bytes={len(data) // 2}-")  # asked only for the rest
    assert "resuming at" in second.stdout
    assert len(list((tmp_path / "data/afhq/train/dog").glob("*.png"))) == 6


def test_a_reset_connection_is_resumed_on_the_next_run(server, tmp_path):
    data = afhq_zip()
    server.files["/afhq.zip"] = data
    server.reset_first.add("/afhq.zip")
    url = f"{server.url}/afhq.zip"
    first = munit("data", "get", "afhq", "--url", url, cwd=tmp_path)
    assert first.returncode == 1 and "Traceback" not in first.stderr
    message = " ".join(first.stderr.split())
    assert message.startswith(f"error: the download from {url} broke off after") and "to resume it" in message
    assert 0 < (tmp_path / "data/afhq.zip.part").stat().st_size < len(data)
    again = munit("data", "get", "afhq", "--url", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert server.requests[-1][1] is not None  # a range request: the rest only


def test_ctrl_c_keeps_the_part_downloaded_and_says_how_to_resume(server, tmp_path):
    import signal

    from .test_cli_processes import MUNIT, default_sigint

    data = afhq_zip()
    server.files["/afhq.zip"] = data
    server.stall_first.add("/afhq.zip")
    url = f"{server.url}/afhq.zip"
    part = tmp_path / "data/afhq.zip.part"
    proc = subprocess.Popen([str(MUNIT), "data", "get", "afhq", "--url", url], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size >= len(data) // 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in " ".join(stderr.split()) and "Traceback" not in stderr
    assert part.stat().st_size == len(data) // 2
    again = munit("data", "get", "afhq", "--url", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert server.requests[-1] == ("/afhq.zip", f"bytes={len(data) // 2}-")


def test_a_truncated_archive_leaves_no_dataset_folder(server, tmp_path):
    server.files["/afhq.zip"] = afhq_zip()[:-300]  # whole as served, but the archive itself is cut
    proc = munit("data", "get", "afhq", "--url", f"{server.url}/afhq.zip", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "damaged or truncated" in proc.stderr.replace("\n", " ")
    assert not (tmp_path / "data/afhq").exists()
    assert not datasets.staging_folder(tmp_path / "data/afhq").exists()
    assert not (tmp_path / "data/afhq.zip").exists()  # removed, so the next run downloads afresh


def test_a_web_page_instead_of_the_archive_is_named_with_what_to_do(server, tmp_path):
    server.pages.add("/afhq.zip")
    url = f"{server.url}/afhq.zip"
    proc = munit("data", "get", "afhq", "--url", url, cwd=tmp_path)
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert message.startswith(f"error: {url} sent a web page")
    assert "--from-file" in message and "--url" in message
    assert not (tmp_path / "data/afhq").exists()


def test_an_unreachable_host_is_one_error_line(tmp_path):
    url = "http://127.0.0.1:9/afhq.zip"  # the discard port: nothing listens there
    proc = munit("data", "get", "afhq", "--url", url, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: could not reach {url}")
    assert "--from-file" in proc.stderr and "Traceback" not in proc.stderr


def test_from_file_installs_an_archive_downloaded_elsewhere(tmp_path):
    archive = tmp_path / "elsewhere" / "edges2shoes.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(edges_tar())
    proc = munit("data", "get", "edges2shoes", "--root", "sets", "--from-file", str(archive), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "sets/edges2shoes"
    for split, n in (("train", 4), ("test", 1)):
        edges, shoes = (sorted((root / split / d).glob("*.jpg")) for d in ("edges", "shoes"))
        assert len(edges) == len(shoes) == n
        # the left half is the white edge map, the right half the red photo
        assert Image.open(edges[0]).size == (16, 16) and Image.open(edges[0]).getpixel((8, 8))[1] > 200
        assert Image.open(shoes[0]).getpixel((8, 8))[1] < 80
    assert proc.stdout.strip().splitlines()[-1] == "next: munit train sets/edges2shoes --source edges --target shoes"
    assert archive.exists()  # the user's own file is left alone


def test_a_dataset_that_moved_is_fetched_from_its_earlier_address(server, tmp_path):
    """The catalogue's own addresses are on the internet: this process's catalogue entry is replaced
    by one whose current address is missing (404) and whose earlier one serves the archive."""
    server.files["/old/afhq.zip"] = afhq_zip()
    new, old = f"{server.url}/new/afhq.zip", f"{server.url}/old/afhq.zip"
    script = ("import sys; import munit_cli.datasets as d; "
              f"d.CATALOGUE['afhq'] = d.Dataset('afhq', 'test', ({new!r}, {old!r}), 'dog', 'cat'); "
              "from munit_cli.cli import main; sys.argv[0] = 'munit'; main()")
    proc = subprocess.run([sys.executable, "-c", script, "data", "get", "afhq"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {new} answered 404 Not Found; trying the address it had before" in " ".join(proc.stderr.split())
    assert f"downloading afhq from {old}" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "data/afhq/train").iterdir()) == ["cat", "dog", "wild"]


def test_download_leaves_a_part_file_only_while_incomplete(server, tmp_path):
    server.files["/a.zip"] = b"PK" + bytes(5000)
    with pytest.raises(DownloadError) as error:
        download(f"{server.url}/missing.zip", tmp_path / "a.zip")
    assert "answered 404" in str(error.value) and not partial_path(tmp_path / "a.zip").exists()
    assert download(f"{server.url}/a.zip", tmp_path / "a.zip").read_bytes() == server.files["/a.zip"]
    assert not partial_path(tmp_path / "a.zip").exists()


def test_every_dataset_lists_a_current_address_and_its_domains():
    for dataset in datasets.CATALOGUE.values():
        assert dataset.urls and all(u.startswith(("http://", "https://")) for u in dataset.urls)
        assert dataset.archive_name.endswith((".zip", ".tar.gz")) and dataset.source != dataset.target
    assert {"afhq", "afhq-v2", "horse2zebra", "summer2winter_yosemite", "monet2photo", "edges2shoes",
            "edges2handbags"} <= set(datasets.CATALOGUE)
