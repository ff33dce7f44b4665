"""Java .properties: jicofo's legacy file read and edited, and round trips over generated ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jitsiwizard.formats import properties
from tests.formats_support import changed_lines

JICOFO_PROPERTIES = """\
org.jitsi.jicofo.BRIDGE_MUC=JvbBrewery@internal.auth.meet.example.org
#org.jitsi.jicofo.auth.URL=XMPP:old.example.org
   ! org.jitsi.jicofo.auth.URL=XMPP:older.example.org
org.jitsi.jicofo.auth.URL: XMPP:meet.example.org
org.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS true
org.jitsi.jicofo.multi \\
    line\\\\
org.jitsi.jicofo.last=x"""


def test_properties_get():
    text = JICOFO_PROPERTIES
    assert properties.properties_get(text, "org.jitsi.jicofo.auth.URL") == "XMPP:meet.example.org"
    assert properties.properties_get(text, "org.jitsi.jicofo.BRIDGE_MUC") == (
        "JvbBrewery@internal.auth.meet.example.org")
    assert properties.properties_get(text, "org.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS") == "true"
    assert properties.properties_get(text, "org.jitsi.jicofo.multi") == "line\\"
    assert properties.properties_get(text, "org.jitsi.jicofo.last") == "x"
    assert properties.properties_get(text, "#org.jitsi.jicofo.auth.URL") is None
    assert properties.properties_get(text, "org.jitsi.jicofo.nope") is None


def test_properties_set_and_remove():
    text = JICOFO_PROPERTIES
    after = properties.properties_set(text, "org.jitsi.jicofo.auth.URL", "XMPP:new.example.org")
    assert changed_lines(text, after) == (
        ["org.jitsi.jicofo.auth.URL: XMPP:meet.example.org\n"],
        ["org.jitsi.jicofo.auth.URL: XMPP:new.example.org\n"])
    removed = properties.properties_remove(text, "org.jitsi.jicofo.auth.URL")
    assert changed_lines(text, removed) == (
        ["org.jitsi.jicofo.auth.URL: XMPP:meet.example.org\n"], [])
    assert "#org.jitsi.jicofo.auth.URL=XMPP:old.example.org" in removed
    multi = properties.properties_remove(text, "org.jitsi.jicofo.multi")
    assert "line" not in multi and multi.endswith("\norg.jitsi.jicofo.last=x")
    assert properties.properties_remove(text, "org.jitsi.jicofo.last") == text.rsplit("\n", 1)[0]
    appended = properties.properties_set(text, "org.jitsi.jicofo.new", "a b")
    assert appended == text + "\norg.jitsi.jicofo.new=a b"
    assert properties.properties_remove(appended, "org.jitsi.jicofo.new") == text
    assert properties.properties_set("", "k", "v") == "k=v\n"
    assert properties.properties_set("k\n", "k", "v") == "k=v\n"


PROPERTY_LINES = st.sampled_from([
    "a=1", "b: 2", "c 3", "# a=commented", "! b: commented", "", "  ", "d=x\\", "  continued",
    "a\\=b=weird key", "e=\\u00e9"])


@settings(max_examples=150, deadline=None)
@given(st.lists(PROPERTY_LINES, max_size=8), st.sampled_from(["\n", "\r\n"]), st.booleans(),
       st.sampled_from(["a", "b", "c", "new.key", "a=b", " sp ace", "#x"]), st.text(max_size=10))
def test_properties_round_trips(lines, newline, final, key, value):
    text = newline.join(lines) + (newline if final and lines else "")
    after = properties.properties_set(text, key, value)
    assert properties.properties_get(after, key) == value
    for other in ("a", "b", "c", "d"):
        if other != key:
            assert properties.properties_get(after, other) == properties.properties_get(text, other)
    dangling = text.rstrip("\r\n").endswith("\\")  # appending must end that continuation
    if properties.properties_get(text, key) is None and not dangling:
        assert properties.properties_remove(after, key) == text
    assert properties.properties_get(properties.properties_remove(after, key), key) is None
