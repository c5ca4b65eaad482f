"""Ray for a sweep: connect (embedded, reused or joined) and read the cluster's resources.

:func:`connect` joins ``address`` when given; otherwise ``ray.init()`` reuses a Ray already
running on this machine (``ray start --head``) and else starts an embedded one, whose helpers
a :class:`~farm.driver.helper_reaper.HelperReaper` ends with the driver, even after SIGKILL.
The SIGTERM handler in place before ``ray.init`` is kept (:mod:`farm.driver.interrupts`),
and what Ray logs while it starts is kept for commands.txt, off the console
(:mod:`farm.driver.ray_log`).
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from farm.driver.helper_reaper import HelperReaper
from farm.driver.interrupts import keeping_sigterm_handler
from farm.driver.preflight import StartError
from farm.driver.ray_log import ray_log
from farm.error_text import short_error


class ConnectError(StartError):
    """Ray could not be reached or started; the message says where and why."""


@dataclass
class RayConnection:
    """How this process got to Ray, and what the cluster holds.

    Attributes:
        how: one line for commands.txt and summary.md.
        seconds: time to connect or start.
        reused: an already running Ray (joined, reused, or connected before).
        started_here: this process started it (and stops it at the end).
        cluster: ``ray.cluster_resources()``.
        nodes: node id, hostname, address, alive and resources of every node.
        address: the GCS address (``host:port``) of the Ray used, when known.
        reaper: ends an embedded Ray's helpers with the driver (``None`` otherwise).
        log: what Ray logged while connecting (its start-up warnings), one line each.
    """

    how: str
    seconds: float
    reused: bool
    started_here: bool
    cluster: dict[str, float] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    address: str | None = None
    reaper: HelperReaper | None = None
    log: list[str] = field(default_factory=list)

    def commands_text(self) -> str:
        """Lines for commands.txt: what Ray logged while starting, then how it was reached."""
        lines = [f"# ray logged {line}" for line in self.log]
        lines.append(f"# ray: {self.how} in {self.seconds:.1f} s; resources {self.short()}")
        return "\n".join(lines)

    def shutdown(self) -> None:
        """Stop an embedded Ray (this process started it); a joined one is left running."""
        if not self.started_here:
            return
        import ray

        ray.shutdown()
        if self.reaper is not None:
            self.reaper.close()

    def alive_resources(self) -> list[dict[str, float]]:
        """Resources of each alive node."""
        return [n["resources"] for n in self.nodes if n["alive"]]

    def short(self) -> str:
        """``CPU=2, GPU=0, memory=15.7GiB``."""
        return short_resources(self.cluster)

    def to_json(self) -> dict[str, Any]:
        """The ``ray`` object of env.json."""
        import ray

        return {
            "version": ray.__version__,
            "how": self.how,
            "connect_s": self.seconds,
            "address": self.address,
            "cluster_resources": self.cluster,
            "nodes": self.nodes,
        }


def connect(address: str | None) -> RayConnection:
    """Connect to (or start) Ray; see the module docstring.

    Raises:
        ConnectError: nothing answers at ``address``, or ``ray.init`` fails.
    """
    import ray

    start = time.perf_counter()
    reaper: HelperReaper | None = None
    logged: list[str] = []
    if address:
        probe(address)  # an unreachable address is an error even when already connected
    if ray.is_initialized():
        how, reused, started = "this process was already connected to Ray", True, False
    else:
        existing = existing_local_ray() if address is None else None
        try:
            with keeping_sigterm_handler(), ray_log() as captured:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,  # its records go to ray_log(), not the console
                )
                logged = captured.take()
        except Exception as exc:  # ConnectionError, a failed start (OSError), Ray's own errors
            where = address or existing
            what = f"connect to Ray ({where})" if where else "start a local Ray"
            raise ConnectError(f"cannot {what}: {type(exc).__name__}: {short_error(exc)}") from exc
        reused = address is not None or existing is not None
        started = not reused
        if started:
            reaper = HelperReaper.start()
            if reaper is not None:
                reaper.watch_descendants()
        if address:
            how = f"joined {address}"
        elif existing:
            how = f"reused the local Ray at {existing}"
        else:
            how = "started an embedded local Ray"
    return RayConnection(
        how=how,
        seconds=time.perf_counter() - start,
        reused=reused,
        started_here=started,
        cluster=ray.cluster_resources(),
        nodes=list_nodes(),
        address=_gcs_address(),
        reaper=reaper,
        log=logged,
    )


def list_nodes() -> list[dict[str, Any]]:
    """Every node Ray knows (alive or dead): id, hostname, IP, alive, resources."""
    import ray

    return [
        {
            "node_id": n.get("NodeID"),
            "hostname": n.get("NodeManagerHostname"),
            "address": n.get("NodeManagerAddress"),
            "alive": n.get("Alive"),
            "resources": n.get("Resources", {}),
        }
        for n in ray.nodes()
    ]


def _gcs_address() -> str | None:
    """``host:port`` of the connected Ray's GCS (``None`` through Ray Client)."""
    import ray

    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # Ray Client has no GCS address on the driver side
        return None


def probe(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray would retry for minutes).

    Raises:
        ConnectError: the address does not answer.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms are left to ray.init
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectError(
            f"cannot connect to Ray at {address}: nothing answers ({exc.strerror or exc})"
        ) from None


def existing_local_ray() -> str | None:
    """Address of a running local Ray that ``ray.init()`` would join, or ``None``."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None)
    except Exception:  # private API, or no cluster recorded
        return None


def short_resources(res: dict[str, float]) -> str:
    """``CPU=2, GPU=0, memory=15.7GiB``."""
    cpu, gpu, mem = res.get("CPU", 0), res.get("GPU", 0), res.get("memory", 0)
    return f"CPU={cpu:g}, GPU={gpu:g}, memory={mem / 2**30:.1f}GiB"
