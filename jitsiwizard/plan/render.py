"""Jinja2 rendering for the files the wizard owns: StrictUndefined, and every value written
through a filter for the target language (see jitsiwizard.formats.escape): `lua`, `lua_comment`,
`hocon`, `hocon_key`, `js`, `systemd`, `debconf`, `sh`, `apt`, `apt_words`. A value a filter cannot
express safely raises EscapeError (a UserError), so nothing is planned from it."""

from __future__ import annotations

from functools import lru_cache

from jitsiwizard.formats.escape import (
    apt_word,
    apt_words,
    debconf_value,
    hocon_key,
    hocon_string,
    js_string,
    lua_comment,
    lua_string,
    shell_word,
    systemd_quote,
)

FILTERS = {"lua": lua_string, "lua_comment": lua_comment, "hocon": hocon_string,
           "hocon_key": hocon_key, "js": js_string, "systemd": systemd_quote,
           "debconf": debconf_value, "sh": shell_word, "apt": apt_word, "apt_words": apt_words}


@lru_cache(maxsize=1)
def _environment():
    import jinja2  # imported on first use: start-up time matters for the TUI

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jitsiwizard", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render(name: str, **values) -> str:
    return _environment().get_template(name).render(**values)
