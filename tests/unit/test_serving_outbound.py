"""Callback URLs cannot reach inside the server's network (SSRF), in any spelling of an address,
after DNS rebinding, or through a redirect; allow-listed hosts can."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from greenscore.errors import DataError
from greenscore.serving.outbound import AllowList, check_url, post_json

NOBODY = AllowList()

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://localhost:8000/hook", "loopback"),
    ("http://LOCALHOST./hook", "loopback|unresolvable"),  # resolver-dependent, never allowed
    ("http://2130706433/hook", "loopback"),  # decimal 127.0.0.1
    ("http://0177.0.0.1/hook", "loopback"),  # octal
    ("http://0x7f.0.0.1/hook", "loopback"),  # hex
    ("http://0x7f000001/hook", "loopback"),
    ("http://127.1/hook", "loopback"),  # short form
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]/hook", "loopback"),
    ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 around 127.0.0.1
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.1/hook", "private"),
    ("http://172.31.255.254/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00::1]/hook", "private"),  # unique local
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 around the metadata address
    ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://240.0.0.1/hook", "private"),  # reserved
    ("http://255.255.255.255/hook", "private"),
]


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_every_spelling_of_an_inside_address_is_refused(url: str, kind: str) -> None:
    with pytest.raises(DataError, match=r"callback_url host .* is not a public address") as err:
        check_url(url, allow=NOBODY)
    assert re.search(rf"\(({kind})\)", str(err.value))
    assert "127.0.0.1" not in str(err.value) or "127.0.0.1" in url  # no resolved address echoed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:secret@8.8.8.8/hook", "must not carry credentials"),
        ("https://token@8.8.8.8/hook", "must not carry credentials"),
        ("http://@8.8.8.8/hook", "must not carry credentials"),
        ("ftp://8.8.8.8/hook", "must use http or https"),
        ("file:///etc/passwd", "must use http or https"),
        ("gopher://8.8.8.8:70/", "must use http or https"),
        ("http:///hook", "has no host"),
    ],
)
def test_credentials_and_other_schemes_are_refused(url: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_url(url, allow=NOBODY)


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    public = check_url(
        "https://hooks.example.com/x", allow=NOBODY, resolver=lambda h, p: ["8.8.8.8"]
    )
    assert (public.host, public.port, public.address) == ("hooks.example.com", 443, "8.8.8.8")
    with pytest.raises(DataError, match=r"\(private\)"):
        check_url(
            "https://hooks.example.com/x",
            allow=NOBODY,
            resolver=lambda h, p: ["8.8.8.8", "10.0.0.5"],
        )

    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    # An unresolvable name gets the same message as an inside one: no map of internal DNS.
    with pytest.raises(DataError, match=r"not a public address \(unresolvable\)"):
        check_url("http://nosuch.internal/x", allow=NOBODY, resolver=nxdomain)


def test_the_allow_list_names_hosts_or_networks() -> None:
    assert check_url("http://127.0.0.1:9/x", allow=AllowList(["127.0.0.1"])).address == "127.0.0.1"
    assert check_url("http://10.2.3.4/x", allow=AllowList(["10.0.0.0/8"])).address == "10.2.3.4"
    named = AllowList(["Hooks.Internal"])
    resolved = check_url("http://hooks.internal/x", allow=named, resolver=lambda h, p: ["10.9.9.9"])
    assert resolved.address == "10.9.9.9"
    with pytest.raises(DataError):
        check_url("http://10.2.3.4/x", allow=AllowList(["10.1.0.0/16"]))
    with pytest.raises(DataError, match="credentials"):
        check_url("http://u:p@127.0.0.1/x", allow=AllowList(["127.0.0.1"]))


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None, str | None]] = []
    redirect_to: str | None = None

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["content-length"]))
        _Receiver.seen.append(
            (self.path, self.headers.get("host"), self.headers.get("authorization"))
        )
        if _Receiver.redirect_to:
            self.send_response(307)
            self.send_header("Location", _Receiver.redirect_to)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.seen.clear()
    _Receiver.redirect_to = None
    yield server.server_port
    server.shutdown()


def test_delivery_rechecks_and_pins_the_checked_address(receiver: int) -> None:
    allow = AllowList(["127.0.0.1"])
    answers = iter([["127.0.0.1"], ["10.0.0.9"]])  # DNS rebinding: the second lookup moves

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    url = f"http://hooks.example.com:{receiver}/done"
    assert post_json(url, {"a": 1}, allow=allow, timeout=5, resolver=rebinding) == 204
    # The name was connected through the checked address, with its own Host header.
    assert _Receiver.seen == [("/done", f"hooks.example.com:{receiver}", None)]
    with pytest.raises(DataError, match=r"\(private\)"):
        post_json(url, {"a": 1}, allow=allow, timeout=5, resolver=rebinding)
    assert len(_Receiver.seen) == 1


def test_redirects_are_not_followed(receiver: int) -> None:
    _Receiver.redirect_to = f"http://127.0.0.1:{receiver}/second"
    code = post_json(
        f"http://127.0.0.1:{receiver}/hook", {}, allow=AllowList(["127.0.0.1"]), timeout=5
    )
    assert code == 307 and [path for path, _, _ in _Receiver.seen] == ["/hook"]
