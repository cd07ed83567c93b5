"""Pretrained-weight downloads (zoo.hub) against a local HTTP server on 127.0.0.1.

The server runs in a thread for one test, on a free port, with socket timeouts, and is shut down
afterwards; nothing leaves the loopback interface.
"""
from __future__ import annotations

import hashlib
import io
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torch import nn

import zoo
from zoo import hub
from zoo.encoders.weights import load_state_dict_file
from zoo.errors import ZooError


@dataclass
class LocalServer:
    base: str
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    requests: list[str] = field(default_factory=list)

    def serve(self, name: str, body: bytes) -> str:
        self.files[f"/models/{name}"] = body
        return f"{self.base}/models/{name}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer(base="")

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold the server thread

        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # torch.hub's urlopen has no timeout of its own
    try:
        yield state
    finally:
        socket.setdefaulttimeout(previous_timeout)
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def online(tmp_path, monkeypatch) -> Path:
    """Downloads allowed, an empty torch hub cache in a temporary $TORCH_HOME, no proxy."""
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # no torch.hub.set_dir() in the way
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return tmp_path / "torch" / "hub" / "checkpoints"


def _saved(state: dict[str, torch.Tensor]) -> tuple[bytes, str]:
    """``torch.save`` bytes and the first 8 hex digits of their SHA-256 (torchvision's naming)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body = buffer.getvalue()
    return body, hashlib.sha256(body).hexdigest()[:8]


def _tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(3, 2).state_dict()


def test_download_lands_in_torch_home_and_loads(server, online):
    body, digest = _saved(_tiny_state())
    url = server.serve(f"tiny-{digest}.pth", body)
    path = hub.cached_download(url, "test weights", progress=False)
    assert path == online / f"tiny-{digest}.pth" and path.read_bytes() == body
    module = nn.Linear(3, 2)
    module.load_state_dict(load_state_dict_file(path, "test weights"))
    assert torch.equal(module.weight, _tiny_state()["weight"])
    assert hub.cached_download(url, "test weights", progress=False) == path
    assert server.requests == [f"/models/tiny-{digest}.pth"]  # the second call used the cache
    assert sorted(p.name for p in online.iterdir()) == [path.name]  # no .partial file left


def test_bad_hash_is_refused_and_not_cached(server, online):
    body, digest = _saved(_tiny_state())
    wrong = "0" * 8 if digest != "0" * 8 else "1" * 8
    url = server.serve(f"tiny-{wrong}.pth", body)
    with pytest.raises(ZooError) as err:
        hub.cached_download(url, "test weights", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "invalid hash value" in msg and url in msg
    assert str(online / f"tiny-{wrong}.pth") in msg  # where to put a good copy
    assert server.requests == [f"/models/tiny-{wrong}.pth"]
    assert not online.exists() or list(online.iterdir()) == []  # neither the file nor a .partial


@pytest.mark.parametrize("switch", ["ZOO_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_mode_makes_no_request(server, online, monkeypatch, switch):
    body, digest = _saved(_tiny_state())
    url = server.serve(f"tiny-{digest}.pth", body)
    monkeypatch.setenv(switch, "1")
    assert hub.offline()
    with pytest.raises(ZooError) as err:
        hub.cached_download(url, "test weights", hint=", or pass pretrained=False")
    msg = str(err.value)
    assert f"offline mode is on ({switch}=1)" in msg and url in msg
    assert str(online / f"tiny-{digest}.pth") in msg and msg.endswith("pretrained=False")
    assert server.requests == []
    assert not online.exists() or list(online.iterdir()) == []


def test_http_error_and_unreachable_host_are_one_line_errors(server, online):
    with pytest.raises(ZooError, match=r"HTTP Error 404.*download it by hand to .*absent-"):
        hub.cached_download(f"{server.base}/models/absent-12345678.pth", "test", progress=False)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ZooError) as err:
        hub.cached_download(f"http://127.0.0.1:{port}/w-12345678.pth", "test", progress=False)
    assert "\n" not in str(err.value) and "refused" in str(err.value).lower()
    assert not online.exists() or list(online.iterdir()) == []


def test_torchvision_weights_download_into_an_encoder(server, online, monkeypatch):
    """``create_encoder("vgg16")`` fetches torchvision's file (URL served locally) and loads it."""
    from torchvision.models import VGG16_Weights

    from zoo.encoders.vgg import VGGEncoder

    source = VGGEncoder("vgg16", layers=["relu1_2"], pretrained=False, seed=5)
    body, digest = _saved({f"features.{k}": v for k, v in source.features.state_dict().items()})
    url = server.serve(f"vgg16-{digest}.pth", body)
    monkeypatch.setattr(VGG16_Weights.IMAGENET1K_V1.value, "url", url)
    enc = zoo.create_encoder("vgg16", layers=["relu1_2"])
    assert enc.pretrained_source == "torchvision IMAGENET1K_V1"
    assert (online / f"vgg16-{digest}.pth").is_file()
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(enc(x)[0], source(x)[0])
    # the same cache as torchvision's own: its loader finds the file without another request
    state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True,
                                                       weights_only=True)
    assert torch.equal(state["features.0.weight"], source.features[0].weight)
    assert server.requests == [f"/models/vgg16-{digest}.pth"]


def test_cli_offline_flag_switches_downloads_off(server, online, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_OFFLINE", "0")  # restored after the test; the flag overrides it
    assert not hub.offline()
    assert main(["--offline", "list", "encoders"]) == 0
    assert hub.offline() and hub.offline_switch() == "ZOO_OFFLINE=1"
    body, digest = _saved(_tiny_state())
    with pytest.raises(ZooError, match="offline mode is on"):
        hub.cached_download(server.serve(f"tiny-{digest}.pth", body), "test")
    assert server.requests == []
