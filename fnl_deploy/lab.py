"""The local lab: real Debian 12 servers as systemd containers in Podman (DESIGN.md §6)."""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fnl_deploy.errors import LabError
from fnl_deploy.paths import share_dir
from fnl_deploy.secrets import create_local_vault_password

NETWORK = "fnl-lab"
#: The lab network's own range; servers get .11, .12… in inventory order.
SUBNET = ipaddress.ip_network("10.89.64.0/24")
CONTAINER_PREFIX = "fnl-lab-"
IMAGE_REPO = "localhost/fnl-deploy/debian12"
LAB_USER = "fnl"
#: Container ports published on 127.0.0.1 as N*10000 + port for server number N.
PUBLISHED_PORTS: tuple[tuple[int, str], ...] = (
    (22, "tcp"),
    (25, "tcp"),
    (53, "tcp"),
    (53, "udp"),
    (80, "tcp"),
    (143, "tcp"),
    (443, "tcp"),
    (465, "tcp"),
    (587, "tcp"),
    (993, "tcp"),
    (4190, "tcp"),
    (5222, "tcp"),
    (5269, "tcp"),
)

#: The lab's certificate authority: Pebble (Debian package), a real ACME server for tests.
ACME_CONTAINER = CONTAINER_PREFIX + "acme"
ACME_ADDRESS = str(SUBNET.network_address + 10)
ACME_HOSTNAME = "acme.lab"
ACME_DIRECTORY = f"https://{ACME_HOSTNAME}:14000/dir"
#: Pebble's management interface: the roots and intermediates it signs with (tests trust them).
ACME_MANAGEMENT = f"https://{ACME_ADDRESS}:15000"
PEBBLE = Path("/usr/bin/pebble")

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class LabServer:
    """One lab server: its inventory entry and its container."""

    name: str
    fqdn: str
    index: int
    state: str = "absent"
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def container(self) -> str:
        return CONTAINER_PREFIX + self.name

    @property
    def address(self) -> str:
        return str(SUBNET.network_address + 10 + self.index)

    @property
    def ssh_port(self) -> int:
        return host_port(self.index, 22)


@dataclass(frozen=True)
class Check:
    """One finding of ``lab doctor``."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def host_port(index: int, port: int) -> int:
    """The stable 127.0.0.1 port of container port ``port`` on server number ``index``."""
    if not 1 <= index <= 6:
        raise LabError(f"lab server number {index} is out of range 1-6")
    return index * 10000 + port


def published_ports(index: int) -> dict[str, int]:
    return {f"{port}/{proto}": host_port(index, port) for port, proto in PUBLISHED_PORTS}


def lab_servers(inventory: Path) -> list[LabServer]:
    """Servers of the lab inventory, numbered in the order of hosts.yml (or fnl_lab_index)."""
    path = inventory / "hosts.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}") from exc
    group = (data.get("all", {}).get("children", {}) or {}).get("fnl_servers") or {}
    servers = []
    for position, (name, host_vars) in enumerate((group.get("hosts") or {}).items(), start=1):
        host_vars = host_vars or {}
        index = int(host_vars.get("fnl_lab_index", position))
        fqdn = host_vars.get("fnl_fqdn")
        if not fqdn:
            raise LabError(f"{path}: server {name} has no fnl_fqdn")
        if int(host_vars.get("ansible_port", host_port(index, 22))) != host_port(index, 22):
            raise LabError(
                f"{path}: {name}: ansible_port must be {host_port(index, 22)} "
                f"(server {index} publishes SSH there)"
            )
        servers.append(LabServer(name, fqdn, index, ports=published_ports(index)))
    if not servers:
        raise LabError(f"{path}: no server in group fnl_servers")
    return servers


# --- podman --------------------------------------------------------------------------------


def _podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise LabError("podman is not installed", f"run: {setup_command()}")
    result = subprocess.run(["podman", *args], capture_output=capture, text=True, check=False)
    if check and result.returncode != 0:
        raise LabError(f"podman {args[0]} failed: {(result.stderr or '').strip()[-800:]}")
    return result


def image_tag() -> str:
    """Tag derived from the recipe: a changed recipe means a new image, built once."""
    recipe = share_dir("lab") / "image"
    digest = hashlib.sha256()
    for path in sorted(recipe.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


#: Held while the image is checked and built: `lab up` and molecule may start together.
IMAGE_LOCK = Path("/var/tmp/fnl-deploy-image.lock")


def ensure_image(progress: Progress = None) -> str:
    """The base image's reference, built first (about 75 s) if this recipe has no image yet."""
    tag = image_tag()
    if _podman("image", "exists", tag, check=False).returncode != 0:
        with IMAGE_LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _podman("image", "exists", tag, check=False).returncode != 0:
                _build_image(tag, progress)
    # molecule scenarios name the image :latest; keep it on the current recipe.
    _podman("tag", tag, f"{IMAGE_REPO}:latest")
    return tag


def _build_image(tag: str, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed", f"run: {setup_command()}")
    if progress:
        progress(f"building the base image {tag} (debootstrap, about 75 s)")
    script = share_dir("lab") / "image" / "build.sh"
    with subprocess.Popen(
        ["bash", str(script), tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as build:
        assert build.stdout is not None and build.stderr is not None
        for line in build.stdout:  # one line per phase
            if progress:
                progress(f"  {line.rstrip()}")
        errors = build.stderr.read()
    if build.returncode != 0:
        raise LabError(f"building the lab image failed:\n{errors.strip()[-2000:]}")


#: Podman's own marker that its state matches this boot (root's tmp_dir). Podman resets
#: every container's state when the file is missing, as after a reboot.
PODMAN_ALIVE_FILE = Path("/run/libpod/alive")


def _conmon_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "conmon"
    except OSError:
        return False


def _any_conmon_running() -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "conmon":
                return True
        except OSError:
            continue
    return False


#: Where conmon writes a container's exit code; Podman waits for that file.
PODMAN_EXITS_DIR = Path("/run/libpod/exits")


def _forget_stale_state(name: str, container_id: str) -> None:
    """Make Podman drop a "running" state whose processes are gone.

    A host restored from a snapshot (or rebooted with a persistent /run) keeps Podman's
    record of containers that no longer run. Podman then waits for an exit file that never
    comes: `rm -f` fails with "timed out waiting for file /run/libpod/exits/…". When no
    container runs at all (no conmon), removing Podman's alive marker makes it refresh its
    state, exactly as it does after a reboot. When others run (a molecule scenario), the
    exit file conmon would have written (137, killed) lets Podman settle this one only.
    """
    if os.geteuid() != 0:
        raise LabError(
            f"Podman believes {name} runs, but its processes are gone",
            "run the command as root, or reboot the host, then run it again",
        )
    if _any_conmon_running():
        exit_file = PODMAN_EXITS_DIR / container_id
        if not exit_file.exists():
            PODMAN_EXITS_DIR.mkdir(parents=True, exist_ok=True)
            exit_file.write_text("137")  # Podman parses the bare number: no newline
        return
    PODMAN_ALIVE_FILE.unlink(missing_ok=True)
    _podman("ps", "-a", "-q")  # triggers the refresh


def _container_state(name: str, settled: bool = False) -> str:
    result = _podman(
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ConmonPid}} {{.Id}}",
        name,
        check=False,
    )
    if result.returncode != 0:
        return "absent"
    state, conmon, container_id = [*result.stdout.strip().split(" "), "", ""][:3]
    if state == "running" and not _conmon_alive(int(conmon or 0)):
        if settled:
            raise LabError(
                f"Podman believes {name} runs, but its processes are gone",
                "stop the other containers, or reboot the host, then run the command again",
            )
        _forget_stale_state(name, container_id)
        return _container_state(name, settled=True)
    return state


def _remove_container(name: str) -> None:
    # Removal right after a state refresh can meet a still-busy shm mount: one retry.
    if _podman("rm", "-f", "-t", "5", name, check=False).returncode != 0:
        time.sleep(2)
        _podman("rm", "-f", "-t", "5", name)


#: netavark's address allocations (root). /run is emptied at boot; a host restored from a
#: snapshot keeps it, with the addresses of containers that are gone.
NETAVARK_IPAM_DB = Path("/run/containers/networks/ipam.db")


#: runc's record of each container it started (root). Same story as netavark's table.
RUNC_STATE_DIR = Path("/run/runc")


def _pid_alive(pid: int) -> bool:
    return pid > 0 and Path(f"/proc/{pid}").exists()


def _forget_previous_boot_state() -> None:
    """Drop what /run still holds about containers of a previous boot, when none runs.

    With no conmon at all, no container runs, so no address allocation and no runc state
    can be live. A host restored from a snapshot still has both: starting a lab container
    then fails with "requested ip address … is already allocated" (netavark), then with
    "container with given ID already exists" (runc). After a reboot /run is empty anyway:
    this only restores that state, and only for runc records whose init process is gone.
    """
    if _any_conmon_running() or os.geteuid() != 0:
        return
    NETAVARK_IPAM_DB.unlink(missing_ok=True)
    if not RUNC_STATE_DIR.is_dir():
        return
    for record in RUNC_STATE_DIR.iterdir():
        try:
            pid = int(json.loads((record / "state.json").read_text()).get("init_process_pid", 0))
        except (OSError, ValueError, AttributeError):
            pid = 0
        if not _pid_alive(pid):
            shutil.rmtree(record, ignore_errors=True)


def _ensure_network() -> None:
    _forget_previous_boot_state()
    if _podman("network", "exists", NETWORK, check=False).returncode != 0:
        _remove_stale_bridge()
        _podman("network", "create", "--subnet", str(SUBNET), NETWORK)


def _remove_stale_bridge() -> None:
    """Delete a Podman bridge left holding the lab's subnet after its network was removed.

    On a host restored from a snapshot, netavark cannot tear the bridge down (its state is
    gone), and `podman network create` then refuses the subnet as "already used on the
    host". Only a bridge named like Podman's (podmanN) with the lab's gateway address is
    deleted, and only when no Podman network claims it.
    """
    listed = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        return
    gateway = str(SUBNET.network_address + 1)
    for link in json.loads(listed.stdout or "[]"):
        name = str(link.get("ifname", ""))
        addresses = {a.get("local") for a in link.get("addr_info", [])}
        if gateway in addresses and name.startswith("podman") and name != "podman0":
            subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def _key(inventory: Path) -> Path:
    """The lab's SSH key, generated once per deployment directory (never in git)."""
    key = inventory / ".fnl" / "lab" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fnl-deploy-lab", "-f", str(key)],
            check=True,
        )
    return key


def _mac(address: str) -> str:
    """A locally administered MAC derived from the server's IPv4 address."""
    return "02:00:" + ":".join(f"{byte:02x}" for byte in ipaddress.IPv4Address(address).packed)


def _run_container(server: LabServer, image: str, others: list[LabServer]) -> None:
    args = [
        "run", "-d", "--name", server.container,
        "--hostname", server.fqdn,
        "--systemd=always",
        "--network", NETWORK, "--ip", server.address,
        # A MAC of its own, stable like the address: with a new random MAC per start, the
        # host's ARP cache keeps the old one and SSH hangs ~20 s after a restart.
        "--mac-address", _mac(server.address),
        "--network-alias", server.fqdn,
        # nftables (role base) needs NET_ADMIN; nothing else beyond Podman's defaults.
        "--cap-add", "NET_ADMIN",
        "--label", "fnl-deploy.lab=1",
    ]  # fmt: skip
    for other in others:
        if other.name != server.name:
            args += ["--add-host", f"{other.fqdn}:{other.address}"]
    args += ["--add-host", f"{ACME_HOSTNAME}:{ACME_ADDRESS}"]
    for port, proto in PUBLISHED_PORTS:
        args += ["-p", f"127.0.0.1:{host_port(server.index, port)}:{port}/{proto}"]
    _podman(*args, image)


def _provision_access(server: LabServer, public_key: str) -> None:
    """The runner's account: SSH key and sudo, like a production server's admin account."""
    script = f"""set -e
id {LAB_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {LAB_USER}
install -d -m 700 -o {LAB_USER} -g {LAB_USER} /home/{LAB_USER}/.ssh
printf '%s\\n' '{public_key}' > /home/{LAB_USER}/.ssh/authorized_keys
chown {LAB_USER}:{LAB_USER} /home/{LAB_USER}/.ssh/authorized_keys
chmod 600 /home/{LAB_USER}/.ssh/authorized_keys
echo '{LAB_USER} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{LAB_USER}
chmod 440 /etc/sudoers.d/{LAB_USER}
"""
    _podman("exec", server.container, "bash", "-c", script)


def _wait_ready(server: LabServer, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        state = _podman(
            "exec", server.container, "systemctl", "is-system-running", check=False
        ).stdout.strip()
        last = state
        if state in ("running", "degraded") and _ssh_banner(server.ssh_port):
            return
        time.sleep(1)
    raise LabError(f"{server.name} did not become ready (systemd: {last or 'unknown'})")


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(16).startswith(b"SSH-")
    except OSError:
        return False


def up(inventory: Path, servers: int | None = None, progress: Progress = None) -> list[LabServer]:
    """Start the lab's servers (idempotent: running containers are kept)."""
    wanted = lab_servers(inventory)
    if servers is not None:
        if not 1 <= servers <= len(wanted):
            raise LabError(
                f"--servers {servers}: the lab inventory has {len(wanted)} server(s)",
                f"add servers to {inventory / 'hosts.yml'} first",
            )
        wanted = wanted[:servers]
    image = ensure_image(progress)
    _ensure_network()
    # The lab keeps its vault password beside its key; production uses a file outside git.
    create_local_vault_password(inventory)
    public_key = (_key(inventory).with_suffix(".pub")).read_text().strip()
    for server in wanted:
        state = _container_state(server.container)
        if state == "absent":
            if progress:
                progress(f"starting {server.name} ({server.fqdn})")
            _run_container(server, image, wanted)
        elif state != "running":
            _podman("start", server.container)
    _ensure_acme(inventory, image, wanted, progress)
    for server in wanted:
        _wait_ready(server)
        _provision_access(server, public_key)
    return status(inventory)


# --- the lab's ACME server ------------------------------------------------------------------


#: Host-wide like the lab itself (fixed container names, one lab per host): any checkout's
#: `lab up` and `apply` find the same Pebble and the same API CA.
LAB_STATE_DIR = Path("/var/lib/fnl-deploy-lab")


def acme_directory() -> Path:
    """Pebble's configuration and the CA of its API certificate (hosts.yml points here)."""
    return LAB_STATE_DIR / "acme"


def _acme_files() -> Path:
    """Pebble's API certificate for acme.lab, from a small CA the servers are told to trust."""
    directory = acme_directory()
    if not (directory / "api.crt").exists():
        _make_acme_api_certificate(directory)
    config = {
        "pebble": {
            "listenAddress": "0.0.0.0:14000",
            "managementListenAddress": "0.0.0.0:15000",
            "certificate": "/acme/api.crt",
            "privateKey": "/acme/api.key",
            # Validations reach the servers where real CAs do: ports 80 and 443.
            "httpPort": 80,
            "tlsPort": 443,
            # Certificates as Let's Encrypt issues them: 90 days, with a revocation URL.
            "certificateValidityPeriod": 90 * 86400,
            "ocspResponderURL": f"http://{ACME_HOSTNAME}:4002/",
            "externalAccountBindingRequired": False,
        }
    }
    (directory / "pebble.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return directory


def _make_acme_api_certificate(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    script = f"""set -eu
cd {shlex.quote(str(directory))}
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=fnl-deploy lab ACME API CA" -keyout api-ca.key -out api-ca.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN={ACME_HOSTNAME}" -keyout api.key -out api.csr 2>/dev/null
printf 'subjectAltName=DNS:{ACME_HOSTNAME},IP:{ACME_ADDRESS}\n' > api.ext
openssl x509 -req -in api.csr -CA api-ca.crt -CAkey api-ca.key -CAcreateserial \
  -days 3650 -extfile api.ext -out api.crt 2>/dev/null
chmod 644 api-ca.crt api.crt api.key
"""
    subprocess.run(["bash", "-c", script], check=True)


def acme_root(inventory: Path) -> str:
    """The root Pebble signs with now (PEM): what clients of the lab trust.

    Pebble makes a new root at each start; fetched over its management API, whose own
    certificate comes from the lab's API CA.
    """
    import ssl
    import urllib.request

    ca = acme_directory() / "api-ca.crt"
    if not ca.exists():
        raise LabError("the lab's ACME server was never started", "run: fnl-deploy lab up")
    context = ssl.create_default_context(cafile=str(ca))
    # Straight to the lab network: no proxy from the environment.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(f"{ACME_MANAGEMENT}/roots/0", timeout=10) as answer:
            return answer.read().decode("ascii")
    except OSError as exc:
        raise LabError(
            f"the lab's ACME server does not answer at {ACME_MANAGEMENT}: {exc}",
            "run: fnl-deploy lab up",
        ) from exc


def _acme_mount(container: str) -> str | None:
    """Where the container's /acme comes from on the host."""
    result = _podman("inspect", "--format", "{{json .Mounts}}", container, check=False)
    try:
        mounts = json.loads(result.stdout or "[]")
    except ValueError:
        return None
    return next((m.get("Source") for m in mounts if m.get("Destination") == "/acme"), None)


def _ensure_acme(inventory: Path, image: str, servers: list[LabServer], progress: Progress) -> None:
    """Pebble on the lab network, resolving names through the lab's first server (its Knot).

    Pebble keeps no state: a new container has a new root, so certificates issued by an
    earlier one no longer verify (apply again to get new ones).
    """
    if not PEBBLE.exists():
        raise LabError("pebble is not installed (the lab's ACME server)", f"run: {setup_command()}")
    directory = _acme_files().resolve()
    state = _container_state(ACME_CONTAINER)
    if state != "absent" and _acme_mount(ACME_CONTAINER) != str(directory):
        # Made by an older version, from another checkout's directory (which may be gone).
        _remove_container(ACME_CONTAINER)
        state = "absent"
    if state == "running":
        return
    if state != "absent":
        _podman("start", ACME_CONTAINER)
        return
    if progress:
        progress(f"starting the lab's ACME server (Pebble) at {ACME_DIRECTORY}")
    _podman(
        "run", "-d", "--name", ACME_CONTAINER,
        "--network", NETWORK, "--ip", ACME_ADDRESS, "--mac-address", _mac(ACME_ADDRESS),
        "--label", "fnl-deploy.lab=1",
        "-v", f"{PEBBLE}:/usr/bin/pebble:ro",
        "-v", f"{directory}:/acme:ro",
        # Answers at once and never rejects a nonce at random: tests stay deterministic.
        "-e", "PEBBLE_VA_NOSLEEP=1", "-e", "PEBBLE_WFE_NONCEREJECT=0",
        image, "/usr/bin/pebble", "-config", "/acme/pebble.json",
        "-dnsserver", f"{servers[0].address}:53",
    )  # fmt: skip


def down(inventory: Path) -> None:
    """Remove the lab's containers and network; the image stays for the next ``up``."""
    for server in lab_servers(inventory):
        if _container_state(server.container) != "absent":
            _remove_container(server.container)
    if _container_state(ACME_CONTAINER) != "absent":
        _remove_container(ACME_CONTAINER)
    if _podman("network", "exists", NETWORK, check=False).returncode == 0:
        _podman("network", "rm", NETWORK, check=False)


def replace(inventory: Path, name: str, progress: Progress = None) -> list[LabServer]:
    """Destroy one server and start a brand-new one in its place (same name, address and
    ports, empty disk): the disaster that `fnl-deploy restore` recovers from."""
    names = [s.name for s in lab_servers(inventory)]
    if name not in names:
        raise LabError(f"no lab server {name} (servers: {', '.join(names)})")
    server = next(s for s in lab_servers(inventory) if s.name == name)
    if _container_state(server.container) != "absent":
        if progress:
            progress(f"destroying {name} and everything on its disk")
        _remove_container(server.container)
    return up(inventory, progress=progress)


def status(inventory: Path) -> list[LabServer]:
    return [
        LabServer(s.name, s.fqdn, s.index, _container_state(s.container), s.ports)
        for s in lab_servers(inventory)
    ]


# --- doctor --------------------------------------------------------------------------------


def setup_command() -> str:
    """The command that prepares this host, as the user can type it from here."""
    script = share_dir("lab") / "setup-host.sh"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return f"sudo bash {shlex.quote(shown)}"


def _cgroups() -> str:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return "v2 (unified)"
    if (root / "unified").is_dir():
        return "v1 (hybrid: v1 controllers, v2 for systemd)"
    return "v1 (legacy)"


def _wait_conmon_exit(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while pid and _conmon_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)


def _systemd_check(image: str) -> Check:
    """Boot a throw-away container from the image until systemd reports its state."""
    name = f"fnl-lab-doctor-{os.getpid()}"
    started = _podman(
        "run", "-d", "--rm", "--name", name, "--systemd=always", "--network", "none", image,
        check=False,
    )  # fmt: skip
    fix = f"podman run --rm -it --systemd=always {image} shows the boot; see docs/lab.md"
    if started.returncode != 0:
        return Check("systemd container", False, started.stderr.strip()[-300:], fix)
    state = ""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state not in ("running", "degraded"):
            time.sleep(0.5)
            state = _podman(
                "exec", name, "systemctl", "is-system-running", check=False
            ).stdout.strip()
    finally:
        conmon = _podman("inspect", "--format", "{{.State.ConmonPid}}", name, check=False)
        _podman("rm", "-f", "-t", "0", name, check=False)
        # Its conmon outlives `rm` by a moment; a `lab up` right after (as in demo.sh) must
        # not take it for a running container, or it would keep a previous boot's state.
        _wait_conmon_exit(int(conmon.stdout.strip() or 0))
    ok = state in ("running", "degraded")
    return Check(
        "systemd container",
        ok,
        f"{image}: systemd {state or 'did not answer'}",
        None if ok else fix,
    )


def _hard_nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def doctor(inventory: Path | None = None) -> list[Check]:
    """What the lab needs from this machine, and the command that fixes each gap."""
    checks: list[Check] = []
    if inventory is not None and (inventory / "hosts.yml").exists():
        try:
            servers = lab_servers(inventory)
            checks.append(
                Check(
                    "inventory", True, f"{len(servers)} lab server(s) in {inventory / 'hosts.yml'}"
                )
            )
        except LabError as exc:
            checks.append(Check("inventory", False, exc.message, exc.hint))
    setup = setup_command()
    podman = shutil.which("podman")
    if podman:
        version = subprocess.run(["podman", "--version"], capture_output=True, text=True)
        checks.append(Check("podman", True, version.stdout.strip()))
    else:
        checks.append(Check("podman", False, "podman is not installed", setup))
    checks.append(
        Check(
            "runc",
            bool(shutil.which("runc")),
            shutil.which("runc") or "runc is not installed",
            None if shutil.which("runc") else setup,
        )
    )
    checks.append(
        Check(
            "debootstrap",
            bool(shutil.which("debootstrap")),
            shutil.which("debootstrap") or "debootstrap is not installed (builds the image)",
            None if shutil.which("debootstrap") else setup,
        )
    )
    checks.append(
        Check(
            "pebble",
            PEBBLE.exists(),
            str(PEBBLE) if PEBBLE.exists() else "pebble is not installed (the lab's ACME CA)",
            None if PEBBLE.exists() else setup,
        )
    )
    checks.append(
        Check(
            "ssh-keygen",
            bool(shutil.which("ssh-keygen")),
            shutil.which("ssh-keygen") or "openssh-client is not installed",
            None if shutil.which("ssh-keygen") else setup,
        )
    )
    if podman:
        info = subprocess.run(
            ["podman", "info", "--format", "json"], capture_output=True, text=True
        )
        try:
            host = json.loads(info.stdout)["host"]
            runtime = host["ociRuntime"]["name"]
            cgroups = host.get("cgroupVersion", "?")
        except (ValueError, KeyError):
            runtime, cgroups = "unknown", "?"
        checks.append(
            Check(
                "runtime",
                runtime == "runc",
                f"OCI runtime: {runtime} (cgroups {cgroups})",
                None
                if runtime == "runc"
                else f'crun fails on this kind of host; set runtime = "runc" in '
                f"/etc/containers/containers.conf: {setup}",
            )
        )
    conf = Path("/etc/containers/containers.conf")
    text = conf.read_text() if conf.exists() else ""
    limits = [line for line in text.splitlines() if line.strip().startswith("default_ulimits")]
    hard = _hard_nofile()
    ok = bool(limits)
    detail = limits[0].strip() if limits else "no default_ulimits in containers.conf"
    if limits:
        try:
            nofile = int(limits[0].split("nofile=")[1].split(":")[1].split('"')[0])
            ok = hard == -1 or nofile <= hard
            detail += f" (host hard nofile limit: {hard})"
        except (IndexError, ValueError):
            ok = False
    checks.append(
        Check(
            "ulimits",
            ok,
            detail,
            None
            if ok
            else "runc needs nofile/nproc ulimits below the host's hard limits: " + setup,
        )
    )
    cgroups = _cgroups()
    checks.append(
        Check(
            "cgroups",
            True,
            cgroups + ("" if cgroups.startswith("v2") else ": systemd containers need runc"),
        )
    )
    if podman and all(c.ok for c in checks):
        tag = image_tag()
        if _podman("image", "exists", tag, check=False).returncode == 0:
            checks.append(_systemd_check(tag))
        else:
            checks.append(
                Check(
                    "systemd container",
                    True,
                    f"not tried: {tag} is not built yet "
                    "(`fnl-deploy lab image` or `lab up` builds it)",
                )
            )
    return checks
