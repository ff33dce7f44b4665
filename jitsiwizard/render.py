"""Jinja2 rendering for the files the wizard owns: StrictUndefined, values escaped for the
target language by filters (`lua`, `hocon`, `js`, `systemd`)."""

from __future__ import annotations

from functools import lru_cache

from jitsiwizard.escape import hocon_string, js_string, lua_string


def systemd_quote(value: str) -> str:
    """A double-quoted systemd unit-file word (Environment= values)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


@lru_cache(maxsize=1)
def _environment():
    import jinja2  # imported on first use: start-up time matters for the TUI

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jitsiwizard", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(lua=lua_string, hocon=hocon_string, js=js_string,
                       systemd=systemd_quote)
    return env


def render(name: str, **values) -> str:
    return _environment().get_template(name).render(**values)
