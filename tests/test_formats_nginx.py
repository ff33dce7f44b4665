"""nginx site files: the certificate directives read and replaced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jitsiwizard.formats import nginx
from tests.formats_support import HOST, changed_lines

NGINX_SITE = """\
server_names_hash_bucket_size 64;

upstream prosody {
    zone upstreams 64K;
    server 127.0.0.1:5280;
    keepalive 2;
}
server {
    listen 80;
    listen [::]:80;
    server_name meet.example.org;

    location ^~ /.well-known/acme-challenge/ {
        default_type "text/plain";
        root         /usr/share/jitsi-meet;
    }
    location / {
        return 301 https://$host$request_uri;
    }
}
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name meet.example.org;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;  # about 40000 sessions
    add_header Strict-Transport-Security "max-age=63072000" always;

    # ssl_certificate /etc/letsencrypt/live/meet.example.org/fullchain.pem;
    ssl_certificate /etc/jitsi/meet/meet.example.org.crt;
\tssl_certificate_key   /etc/jitsi/meet/meet.example.org.key ;\x20\x20
}
"""


def test_nginx_get():
    assert nginx.nginx_get(NGINX_SITE, "ssl_certificate") == [f"/etc/jitsi/meet/{HOST}.crt"]
    assert nginx.nginx_get(NGINX_SITE, "ssl_certificate_key") == [f"/etc/jitsi/meet/{HOST}.key"]
    assert nginx.nginx_get(NGINX_SITE, "listen") == ["80", "[::]:80", "443 ssl", "[::]:443 ssl"]
    assert nginx.nginx_get(NGINX_SITE, "default_type") == ["text/plain"]
    assert nginx.nginx_get(NGINX_SITE, "ssl_session_cache") == ["shared:SSL:10m"]
    assert nginx.nginx_get(NGINX_SITE, "ssl_dhparam") == []


def test_nginx_set():
    cert = "/etc/letsencrypt/live/meet.example.org/fullchain.pem"
    after = nginx.nginx_set(NGINX_SITE, "ssl_certificate", cert)
    assert changed_lines(NGINX_SITE, after) == (
        ["    ssl_certificate /etc/jitsi/meet/meet.example.org.crt;\n"],
        [f"    ssl_certificate {cert};\n"])
    key = nginx.nginx_set(after, "ssl_certificate_key", "/etc/ssl/my key.pem")
    assert changed_lines(after, key) == (
        ["\tssl_certificate_key   /etc/jitsi/meet/meet.example.org.key ;  \n"],
        ['\tssl_certificate_key   "/etc/ssl/my key.pem" ;  \n'])
    assert nginx.nginx_get(key, "ssl_certificate_key") == ["/etc/ssl/my key.pem"]
    assert nginx.nginx_set(NGINX_SITE, "ssl_stapling", "on") == NGINX_SITE
    twice = NGINX_SITE + "server { ssl_certificate a.pem; }"
    assert nginx.nginx_get(nginx.nginx_set(twice, "ssl_certificate", "b.pem"),
                           "ssl_certificate") == ["b.pem", "b.pem"]


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_nginx_set_round_trips_any_path(path):
    import unicodedata

    from jitsiwizard.formats.escape import EscapeError

    unsafe = "$" in path or any(unicodedata.category(c) in ("Cf", "Zl", "Zp") or c == "\x85"
                                for c in path)
    try:
        after = nginx.nginx_set(NGINX_SITE, "ssl_certificate", path)
    except EscapeError:
        assert unsafe  # a variable or a hidden character is refused, nothing else
        return
    assert not unsafe
    assert nginx.nginx_get(after, "ssl_certificate") == [path]
    assert nginx.nginx_get(after, "ssl_certificate_key") == ["/etc/jitsi/meet/meet.example.org.key"]
    removed, added = changed_lines(NGINX_SITE, after)
    assert removed == ["    ssl_certificate /etc/jitsi/meet/meet.example.org.crt;\n"]
