"""LDAP checks against a real slapd on loopback (plain, StartTLS, LDAPS with a test CA), a
listener that never answers, and a dnsmasq for names: every failure classification."""

from __future__ import annotations

import dataclasses
import json
import socket
import time

import pytest

from jitsiwizard.answers.model import LdapAnswers
from jitsiwizard.answers.secrets import Secret
from jitsiwizard.checks.ldapcheck import check_ldap, parse_url
from jitsiwizard.host.prosody_auth import search_filter
from tests.lab.ca import CA
from tests.lab.dns import Dnsmasq
from tests.lab.slapd import Slapd

pytestmark = pytest.mark.lab

TIMEOUT = 3.0


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def directory(tmp_path_factory, ca):
    server = Slapd(tmp_path_factory.mktemp("slapd"), ca=ca, ldaps=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_directory(tmp_path_factory):
    """A directory without any TLS configured."""
    server = Slapd(tmp_path_factory.mktemp("slapd-plain")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    """A DNS zone where ldap.example.test is loopback (a name the certificate lacks)."""
    server = Dnsmasq(tmp_path_factory.mktemp("dns"), "example.test",
                     {"ldap": ("127.0.0.1", None)}).start()
    yield server
    server.stop()


@pytest.fixture
def silent_port():
    """A loopback listener that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def answers(directory: Slapd, ca: CA, **changes) -> LdapAnswers:
    base = LdapAnswers(
        urls=[directory.name_url], starttls=True, ca_file=str(ca.cert),
        bind_dn=directory.service_dn,
        bind_password=Secret("literal", directory.service_password),
        user_base=directory.people_base, test_user="alice",
        test_password=Secret("literal", directory.users["alice"]))
    return dataclasses.replace(base, **changes)


def by_name(results):
    found = {}
    for result in results:
        assert result.name not in found, f"{result.name} reported twice for one server"
        found[result.name] = result
    return found


def failure(results):
    failed = [r for r in results if r.status == "fail"]
    assert len(failed) == 1, [r.render() for r in results]
    return failed[0]


async def test_starttls_with_the_test_ca_passes_every_step(directory, ca):
    results = await check_ldap(answers(directory, ca), TIMEOUT)
    found = by_name(results)
    assert [r.name for r in results] == ["ldap.connect", "ldap.tls", "ldap.bind", "ldap.search",
                                         "ldap.test_user"]
    assert all(r.status == "ok" for r in results), [r.render() for r in results]
    assert "StartTLS" in found["ldap.tls"].summary
    assert any("issuer: commonName=jitsi-wizard test CA" in line
               for line in found["ldap.tls"].evidence)
    assert found["ldap.search"].data["count"] == 3
    # No password in anything shown.
    shown = json.dumps([r.to_json() for r in results])
    assert directory.service_password not in shown and directory.users["alice"] not in shown


async def test_ldaps_with_the_test_ca_passes(directory, ca):
    results = await check_ldap(answers(directory, ca, urls=[directory.ldaps_url],
                                       starttls=False), TIMEOUT)
    assert all(r.status == "ok" for r in results), [r.render() for r in results]
    assert "LDAPS" in by_name(results)["ldap.tls"].summary


async def test_plaintext_only_when_allowed(directory, ca):
    refused = await check_ldap(answers(directory, ca, urls=[directory.url], starttls=False),
                               TIMEOUT)
    result = failure(refused)
    assert (result.name, result.data["reason"]) == ("ldap.tls", "plaintext_refused")
    assert "ldap.bind" not in by_name(refused)  # no password was sent

    allowed = by_name(await check_ldap(answers(directory, ca, urls=[directory.url],
                                               starttls=False, allow_plaintext=True), TIMEOUT))
    assert allowed["ldap.tls"].status == "warn"
    assert allowed["ldap.bind"].status == allowed["ldap.test_user"].status == "ok"


@pytest.mark.parametrize("use_ldaps", [False, True], ids=["starttls", "ldaps"])
async def test_certificate_not_trusted_by_the_system_cas(directory, ca, use_ldaps):
    url = directory.ldaps_url if use_ldaps else directory.name_url
    results = await check_ldap(answers(directory, ca, urls=[url], ca_file=""), TIMEOUT)
    result = failure(results)
    assert (result.name, result.data["reason"]) == ("ldap.tls", "cert_untrusted")
    evidence = "\n".join(result.evidence)
    assert f"certificate subject: commonName={directory.hostname}" in evidence
    assert "certificate issuer: commonName=jitsi-wizard test CA" in evidence
    assert "ca_file" in result.fix
    assert "ldap.bind" not in by_name(results)  # never falls back to unverified


async def test_certificate_for_another_name(directory, ca, names):
    url = f"ldap://ldap.example.test:{directory.port}"
    results = await check_ldap(answers(directory, ca, urls=[url]), TIMEOUT,
                               resolver=names.resolver)
    result = failure(results)
    assert (result.name, result.data["reason"]) == ("ldap.tls", "cert_name_mismatch")
    assert "ldap.example.test" in result.summary
    assert any(line.startswith("certificate names: ") for line in result.evidence)


async def test_tls_handshake_failure(directory, ca):
    # LDAPS spoken to the plain LDAP port: the server does not speak TLS there.
    url = f"ldaps://{directory.hostname}:{directory.port}"
    result = failure(await check_ldap(answers(directory, ca, urls=[url]), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.tls", "tls_failed")
    assert "handshake" in result.summary


async def test_server_without_starttls(plain_directory, ca):
    result = failure(await check_ldap(answers(plain_directory, ca), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.tls", "tls_failed")
    assert "does not offer StartTLS" in result.summary


async def test_name_does_not_resolve(directory, ca, names):
    url = f"ldap://nothere.example.test:{directory.port}"
    result = failure(await check_ldap(answers(directory, ca, urls=[url]), TIMEOUT,
                                      resolver=names.resolver))
    assert (result.name, result.data["reason"]) == ("ldap.connect", "name_not_resolved")
    assert "nothere.example.test" in result.summary


async def test_connection_refused(directory, ca):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = closed.getsockname()[1]
        result = failure(await check_ldap(answers(directory, ca,
                                                  urls=[f"ldap://127.0.0.1:{port}"]), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.connect", "refused")


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
async def test_server_that_never_answers_is_bounded(directory, ca, silent_port, scheme):
    started = time.monotonic()
    results = await check_ldap(answers(directory, ca, urls=[f"{scheme}://127.0.0.1:"
                                                            f"{silent_port}"]), 1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6
    result = failure(results)
    assert (result.name, result.data["reason"]) == ("ldap.tls", "timeout")
    assert "within 1 s" in result.summary
    assert by_name(results)["ldap.connect"].status == "ok"  # it did accept the connection


async def test_servers_are_checked_concurrently(directory, ca, silent_port):
    started = time.monotonic()
    results = await check_ldap(answers(directory, ca, urls=[
        f"ldap://127.0.0.1:{silent_port}", directory.name_url]), 1.0)
    assert time.monotonic() - started < 1.6
    by_url: dict[str, list] = {}
    for result in results:
        by_url.setdefault(result.data["url"], []).append(result)
    assert all(r.status == "ok" for r in by_url[directory.name_url])
    assert [r.data["reason"] for r in by_url[f"ldap://127.0.0.1:{silent_port}"]
            if r.status == "fail"] == ["timeout"]
    assert all(r.summary.startswith(r.data["url"] + ": ") for r in results)


async def test_wrong_service_password(directory, ca):
    result = failure(await check_ldap(answers(
        directory, ca, bind_password=Secret("literal", "not-the-password")), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.bind", "wrong_credentials")
    assert "not-the-password" not in json.dumps(result.to_json())


async def test_missing_service_password_is_not_sent_as_an_anonymous_bind(directory, ca):
    result = failure(await check_ldap(answers(directory, ca, bind_password=None), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.bind", "no_password")


async def test_base_dn_does_not_exist(directory, ca):
    result = failure(await check_ldap(answers(
        directory, ca, user_base="ou=nobody,dc=example,dc=org"), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.search", "base_missing")


async def test_filter_syntax_error(directory, ca):
    result = failure(await check_ldap(answers(directory, ca, user_filter="(uid=alice"),
                                      TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.search", "filter_syntax")


async def test_zero_users_matched(directory, ca):
    result = failure(await check_ldap(answers(
        directory, ca, user_filter="(objectClass=posixAccount)"), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.search", "zero_users")


async def test_test_user_not_found(directory, ca):
    result = failure(await check_ldap(answers(directory, ca, test_user="dave"), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.test_user", "test_user_not_found")


async def test_wrong_test_password(directory, ca):
    result = failure(await check_ldap(answers(
        directory, ca, test_password=Secret("literal", "wrong")), TIMEOUT))
    assert (result.name, result.data["reason"]) == ("ldap.test_user", "wrong_test_password")


async def test_test_user_name_is_escaped(directory, ca):
    # "a*" would match alice if the name went into the filter unescaped.
    result = failure(await check_ldap(answers(directory, ca, test_user="a*"), TIMEOUT))
    assert result.data["reason"] == "test_user_not_found"
    # The check searches with Prosody's own login filter, substituted as Prosody does.
    assert search_filter(answers(directory, ca), "meet.example.org", "*)(uid=x") == \
        "(&(uid=\\2a\\29\\28uid=x)(objectClass=inetOrgPerson))"


async def test_bad_urls_are_reported_without_connecting(directory, ca):
    results = await check_ldap(answers(directory, ca, urls=["http://x", "ldap://"]), TIMEOUT)
    assert [(r.name, r.data["reason"]) for r in results] == [("ldap.url", "bad_url")]
    assert len(results[0].evidence) == 2


def test_parse_url():
    assert parse_url("ldaps://ldap.example.org").port == 636
    assert parse_url("ldap://ldap.example.org").port == 389
    assert parse_url("LDAP://[::1]:3389/").host == "::1"
    for bad in ("ldap.example.org", "ldap://h/dc=x", "ldap://h:99999"):
        with pytest.raises(ValueError):
            parse_url(bad)


async def test_an_answer_ldap3_cannot_decode_is_named_not_an_error(directory, ca,
                                                                  monkeypatch):
    """A web server where the directory should be (its `HTTP/1.1 400` held open) made
    ldap3's decoder raise KeyError((1, 20)): 'T' read as an application tag. The check says
    the port answered but not as LDAP, not 'report this'. The decoder's error is injected
    here: which one a given answer provokes depends on ldap3's version."""
    import ldap3

    def undecodable(self, *args, **kwargs):
        raise KeyError((1, 20))

    monkeypatch.setattr(ldap3.Connection, "bind", undecodable)
    results = await check_ldap(answers(directory, ca), TIMEOUT)
    result = failure(results)
    by_name(results)  # each step reported once
    assert (result.name, result.data["reason"]) == ("ldap.bind", "not_ldap"), result
    assert "not as an LDAP server" in result.summary and "another service" in result.fix
    assert "KeyError" not in "".join(result.evidence) + result.summary + result.fix


# A web server's refusal as nginx sends it: a 400 with an HTML page (about 300 bytes).
NGINX_400 = (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nDate: Fri, 04 Dec 2026 09:00:00 GMT\r\n"
             b"Content-Type: text/html\r\nContent-Length: 150\r\nConnection: close\r\n\r\n"
             b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
             b"<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")


@pytest.mark.parametrize("plain", [True, False], ids=["clear-text", "starttls"])
async def test_a_web_server_that_holds_its_400_is_named_not_a_timeout(directory, ca, plain):
    """Where the directory should be, a web server answers the LDAP request with its 400
    page and keeps the connection open: the check names it at once, not as a directory that
    never answers (ldap3 read 'T' as a length and waited)."""
    import asyncio

    async def web(reader, writer):
        await reader.read(100)
        writer.write(NGINX_400)
        await writer.drain()
        await reader.read()  # held open until the client goes
        writer.close()

    server = await asyncio.start_server(web, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ldap = answers(directory, ca, urls=[f"ldap://127.0.0.1:{port}"], starttls=not plain,
                       allow_plaintext=plain)
        started = time.monotonic()
        results = await check_ldap(ldap, TIMEOUT)
        took = time.monotonic() - started
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
    result = failure(results)
    assert result.data["reason"] == "not_ldap", result
    assert "not as an LDAP server" in result.summary and "another service" in result.fix
    assert "HTTP/1.1 400" in "".join(result.evidence)
    assert took < TIMEOUT  # named from its answer, not after waiting out the deadline
