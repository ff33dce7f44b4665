"""A real OpenSSH server in a network namespace, and Ansible as a controller that reaches it.

Each host is a namespace with its own sshd (Debian's, from the tree's packages) on its link
address, root's login by a key made for the test, host keys made for the test and pinned in
the controller's known_hosts. The hosts share the tree's filesystem; each gets its own
`--root` directory for the wizard. Ansible runs from the tree's venv (ansible-core from PyPI)
with the collection built from ansible/ and installed as any collection is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.lab import netns
from tests.lab.proc import Proc, port_open, wait_for

REPO = Path(__file__).resolve().parents[2]
CALLBACKS = Path(__file__).resolve().parent / "ansible_callbacks"
COLLECTION_SOURCE = REPO / "ansible"
SSHD = "/usr/sbin/sshd"
BIN = Path(sys.executable).parent  # ansible-playbook, ansible-galaxy, ansible-doc


def available() -> str:
    """"" when the lab can run here, else why not."""
    why = netns.available()
    if why:
        return why
    for tool in (SSHD, shutil.which("ssh-keygen") or "ssh-keygen", BIN / "ansible-playbook"):
        if not Path(tool).exists():
            return f"{tool} is not installed (scripts/test installs it)"
    return ""


def keygen(path: Path) -> str:
    """An ed25519 key pair at path (and path.pub); returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jw-lab", "-f",
                    str(path)], check=True, capture_output=True, timeout=30)
    return path.with_suffix(".pub").read_text().strip()


class SshHost:
    """sshd for root in namespace `ns`, listening on `address`:`port`; inside `chroot` (a
    whole host's `/`, tests/lab/hostroot.py) when given. Its own files live under /tmp,
    which such a root shares."""

    def __init__(self, workdir: Path, ns: str, address: str, client_key_pub: str, *,
                 port: int = 22, chroot: Path | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ns, self.address, self.port, self.chroot = ns, address, port, chroot
        self.host_key_pub = keygen(self.dir / "host_key")
        (self.dir / "authorized_keys").write_text(client_key_pub + "\n")
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"ListenAddress {address}:{port}\nHostKey {self.dir / 'host_key'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n"
            # pytest's directories are not root's home: sshd need not vet their modes.
            "StrictModes no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n")
        self.proc: Proc | None = None

    def start(self) -> SshHost:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation dir
        inside = ["chroot", str(self.chroot)] if self.chroot is not None else []
        self.proc = Proc([*netns.NetnsPair.prefix(self.ns), *inside, SSHD, "-D", "-e", "-f",
                          str(self.config)], log=self.dir / "sshd.log")

        def ready():
            if not self.proc.alive():
                raise RuntimeError(f"sshd exited early:\n{self.proc.log_text()[-2000:]}")
            return netns.call_in(self.ns, port_open, self.address, self.port)

        wait_for(ready, 10, f"sshd on {self.address}:{self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def known_hosts_line(self) -> str:
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_key_pub.rsplit(' ', 1)[0]}"


def build_collection(out: Path) -> Path:
    """The collection built from ansible/ and installed into out/collections, as an admin
    installs any collection; returns the collections path."""
    built = out / "built"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION_SOURCE),
                    "--output-path", str(built)], check=True, capture_output=True, timeout=120,
                   cwd=out)
    tarball = next(built.glob("*.tar.gz"))
    collections = out / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p",
                    str(collections), str(tarball)], check=True, capture_output=True,
                   timeout=120, cwd=out)
    return collections


class Controller:
    """Ansible in namespace `ns`, with its own home, temp and SSH control directories."""

    def __init__(self, workdir: Path, ns: str, collections: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ns = ns
        self.collections = collections
        self.key = self.dir / "id_ed25519"
        self.key_pub = keygen(self.key)
        self.known_hosts = self.dir / "known_hosts"
        self.known_hosts.write_text("")
        # ssh's control sockets need a short path (a socket's name has at most 107 bytes).
        self.control_dir = Path(tempfile.mkdtemp(prefix="jwcp-"))

    def trust(self, host: SshHost) -> None:
        with self.known_hosts.open("a") as fh:
            fh.write(host.known_hosts_line() + "\n")

    def env(self, **extra: str) -> dict:
        return {
            "ANSIBLE_HOME": str(self.dir / "home"),
            "ANSIBLE_LOCAL_TEMP": str(self.dir / "local-tmp"),
            "ANSIBLE_REMOTE_TMP": str(self.dir / "remote-tmp"),
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_HOST_KEY_CHECKING": "true",
            "ANSIBLE_PRIVATE_KEY_FILE": str(self.key),
            "ANSIBLE_SSH_ARGS": (f"-o ControlMaster=auto -o ControlPersist=60s "
                                 f"-o UserKnownHostsFile={self.known_hosts} "
                                 "-o StrictHostKeyChecking=yes -o BatchMode=yes"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            **extra,
        }

    def inventory(self, hosts: dict[str, dict], groups: dict[str, dict] | None = None,
                  name: str = "inventory.yml") -> Path:
        """An inventory (JSON is YAML) of hosts: name -> their variables; and groups:
        name -> {"hosts": {name: variables}, "vars": {...}}."""
        path = self.dir / name
        path.write_text(json.dumps({"all": {"hosts": hosts, "children": groups or {}, "vars": {
            "ansible_user": "root", "ansible_python_interpreter": sys.executable}}},
            indent=2))
        return path

    def playbook(self, name: str, plays: list) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(plays, indent=2))
        return path

    def run(self, playbook: Path, inventory: Path, *args: str, timeout: float = 300,
            env: dict | None = None) -> PlayRun:
        """ansible-playbook in the controller's namespace: its own output as an admin sees
        it (with whatever verbosity args ask for), the results recorded as JSON beside."""
        record = self.dir / "record.json"
        record.unlink(missing_ok=True)
        done = subprocess.run(
            [*netns.NetnsPair.prefix(self.ns), str(BIN / "ansible-playbook"), "-i",
             str(inventory), str(playbook), *args],
            capture_output=True, text=True, timeout=timeout, cwd=self.dir,
            env={**os.environ, **self.env(), "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                 "ANSIBLE_CALLBACKS_ENABLED": "jw_record", "JW_RECORD": str(record),
                 **(env or {})})
        return PlayRun(done, json.loads(record.read_text()) if record.exists() else None)

    def stop(self) -> None:
        """Close the SSH connections Ansible keeps open (ControlPersist) and their folder."""
        for sock in self.control_dir.iterdir():
            subprocess.run([*netns.NetnsPair.prefix(self.ns), "ssh", "-o",
                            f"ControlPath={sock}", "-O", "exit", "lab"],
                           capture_output=True, timeout=10)
        shutil.rmtree(self.control_dir, ignore_errors=True)


class PlayRun:
    """One ansible-playbook run: its exit code, output, and the recorded results."""

    def __init__(self, done: subprocess.CompletedProcess, doc: dict | None):
        self.returncode = done.returncode
        self.stdout, self.stderr = done.stdout, done.stderr
        self.doc = doc

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def stats(self) -> dict:
        assert self.doc is not None, self.output[-4000:]
        return self.doc["stats"]

    def results(self, task: str) -> dict:
        """host -> result of the task named `task` (in any play)."""
        assert self.doc is not None, self.output[-4000:]
        for item in self.doc["tasks"]:
            if item["name"] == task:
                return item["hosts"]
        raise KeyError(f"no task {task!r} in the run:\n{self.output[-4000:]}")
