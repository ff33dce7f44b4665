# Shared by the scripts: make sure a Python >= 3.9 with venv exists, and a virtualenv with
# the project installed. Sourced, not run.

# python_ok BIN: true when BIN is a Python >= 3.9
python_ok() {
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null
}

# find_python: print a Python >= 3.9, installing one with apt when needed and possible.
# Ubuntu 20.04 ships 3.8 as python3 and 3.9 as python3.9.
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
    [ -n "$candidate" ] && python_ok "$candidate" && { echo "$candidate"; return 0; }
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing python3.9 (python3 here is older than 3.9)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      python3.9 python3.9-venv >&2 && { echo python3.9; return 0; }
  fi
  echo "no Python 3.9 or newer found: install python3.9 (and python3.9-venv)" >&2
  return 1
}

# ensure_venv DIR PIP-ARGS...: a virtualenv in DIR with the project installed by
# `pip install PIP-ARGS` (again whenever pyproject.toml changes).
ensure_venv() {
  local dir=$1 py
  shift
  if [ ! -x "$dir/bin/python" ] || ! python_ok "$dir/bin/python"; then
    py=$(find_python) || return 1
    if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing $py-venv" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$(basename "$py")-venv" >&2 ||
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      fi
    fi
    rm -rf "$dir"
    "$py" -m venv "$dir"
  fi
  local stamp
  stamp="$dir/.installed-$(sha256sum < "$REPO/pyproject.toml" | cut -c1-16)"
  if [ ! -e "$stamp" ]; then
    echo "== installing jitsi-wizard into $dir" >&2
    "$dir/bin/pip" install -q --upgrade pip >/dev/null
    "$dir/bin/pip" install -q "$@"
    rm -f "$dir"/.installed-* && touch "$stamp"
  fi
}
