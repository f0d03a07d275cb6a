"""Where a sweep's runs execute, apart from what they compute: worker processes that end with the process that
started them, and Dask: the scheduler address and handshake checked before any work, TLS client credentials,
and the private local cluster a sweep starts when given no scheduler.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from qaplib.errors import InvalidSpecError
from qaplib.inputs import MAX_TEXT_BYTES, regular_file


def die_with_parent() -> None:
    """Have the kernel kill this worker process when the process that started it dies, even by ``kill -9``
    (Linux ``PR_SET_PDEATHSIG``), so that no orphaned worker goes on writing results. Elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the call took effect
        os._exit(1)


#: A Dask scheduler address: tcp:// or tls://, a host name or IPv4 address or [IPv6] address, and a port.
SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$")


def check_scheduler(address: str, security=None, timeout: float = 3.0) -> None:
    """``address`` must read ``tcp://host:port`` or ``tls://host:port`` and a Dask scheduler must answer there,
    with ``security`` (:func:`tls_security`) for a TLS one, each step within ``timeout`` s."""
    match = SCHEDULER_ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise InvalidSpecError(f"--scheduler must look like tcp://host:port or tls://host:port, got {address!r}")
    try:
        with socket.create_connection((match.group(2).strip("[]"), int(match.group(3))), timeout=timeout):
            pass
    except OSError as exc:
        raise InvalidSpecError(f"no Dask scheduler answers at {address} ({exc.strerror or exc}); start one "
                               "(`dask scheduler`) or correct the address") from None  # fmt: skip
    if match.group(1) == "tls" and security is None:
        raise InvalidSpecError(f"the scheduler {address} speaks TLS: give its credentials with --tls-ca-file, --tls-cert "
                               "and --tls-key")  # fmt: skip
    try:  # something listens there: it must answer Dask's handshake, as a scheduler
        with ThreadPoolExecutor(max_workers=1) as thread:  # an event loop of its own, also under a notebook's
            identity = thread.submit(asyncio.run, asyncio.wait_for(_identity(address, security), timeout)).result()
    except (OSError, TimeoutError) as exc:
        what = "the scheduler's TLS settings and the CA, certificate and key given" if security else "the protocol (tcp or tls)"
        raise InvalidSpecError(f"no Dask scheduler answers at {address} within {timeout:g} s ({type(exc).__name__}"
                               f"{': ' + str(exc) if str(exc) else ''}); something else listens at that port, or check "
                               f"{what}") from None  # fmt: skip
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise InvalidSpecError(f"a Dask {kind or 'peer'} answers at {address}, not a scheduler; give the address of the "
                               "scheduler (`dask scheduler` prints it)")  # fmt: skip


async def _identity(address: str, security) -> dict:
    """What the Dask server at ``address`` says it is (its ``identity`` reply)."""
    from distributed.comm import connect

    comm = await connect(address, **(security.get_connection_args("client") if security else {}))
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        await comm.close()


def tls_security(ca_file: str, certificate: str, key: str):
    """Client credentials for a TLS-secured Dask scheduler (``distributed.security.Security``); files checked first:
    regular files that load as a PEM CA certificate, and a PEM certificate with its private key."""
    import ssl

    from distributed.security import Security

    for name, path in (("CA file", ca_file), ("certificate", certificate), ("key", key)):
        if not path:
            raise InvalidSpecError(f"the TLS {name} {path!r} is not a readable file")
        regular_file(path, f"TLS {name}", MAX_TEXT_BYTES)
    try:
        ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidSpecError(f"the TLS CA file {ca_file} holds no PEM certificate ({exc}); give the CA certificate "
                               "that signed the scheduler's") from None  # fmt: skip
    try:
        ssl.create_default_context().load_cert_chain(certificate, key)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidSpecError(f"the TLS certificate {certificate} and key {key} do not load as a PEM certificate and "
                               f"its private key ({exc}); give this client's certificate and key") from None  # fmt: skip
    return Security(tls_ca_file=ca_file, tls_client_cert=certificate, tls_client_key=key, require_encryption=True)


def local_cluster(workers: int):
    """The Dask cluster a sweep starts when it is given no scheduler: ``workers`` single-threaded processes on
    the loopback interface, reachable only over TLS with credentials made for this cluster alone
    (``Security.temporary()``), so no other local process can connect to it and run code."""
    from dask.distributed import LocalCluster
    from distributed.security import Security

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1", protocol="tls://", security=Security.temporary())  # fmt: skip
    close_http_servers(cluster)
    return cluster


async def _stop_http_server(server) -> None:
    server.http_server.stop()


def _stop_worker_http_server(dask_worker) -> None:
    dask_worker.http_server.stop()


def close_http_servers(cluster) -> None:
    """Stop the plain-HTTP servers of a local cluster's scheduler and workers. ``dashboard_address=None`` drops only
    the Bokeh dashboard: Dask still serves its info pages (worker addresses, logs), health and Prometheus metrics
    over unauthenticated HTTP, the scheduler's on port 8787. The cluster's own traffic is TLS and needs none of it."""
    from dask.distributed import Client

    cluster.sync(_stop_http_server, cluster.scheduler)
    with Client(cluster) as client:
        client.run(_stop_worker_http_server)
