"""p2pmon plugin SDK for Python.

Typed functions over the plugin contract (plugin-sdk/wit/plugin.wit, package
``p2pmon:plugin@1.2.0``), for plugins built into WebAssembly components with
componentize-py (``python -m p2pmon_plugin.build``). A plugin module does::

    from p2pmon_plugin import Plugin, gauge, export

    class MyPlugin(Plugin):
        name = "my-plugin"
        version = "0.1.0"
        capabilities = ["config"]
        metrics = [gauge("my_value", "count", "What it counts")]

        def collect(self, out):
            out.metric("my_value", 1)

    Guest = export(MyPlugin)

Host calls raise :class:`HostError` (``kind``: denied, unavailable or
invalid). An exception out of ``collect`` becomes the call's error, which the
agent logs and counts; the plugin stays loaded.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import file as _file
from wit_world.imports import host as _host
from wit_world.imports import http as _http
from wit_world.imports import net as _net
from wit_world.imports import sql as _sql
from wit_world.imports import system as _system
from wit_world.imports import types

#: The contract version this SDK builds.
CONTRACT = "1.2.0"

Tags = Union[Mapping[str, Any], Sequence[Tuple[str, Any]], None]

__all__ = [
    "CONTRACT",
    "Collector",
    "HostError",
    "Plugin",
    "config_get",
    "config_keys",
    "counter",
    "export",
    "gauge",
    "http_get",
    "log",
    "now_ms",
    "processes_named",
    "protocol_counters",
    "query",
    "read_file",
    "snapshot",
    "tail",
    "tcp_connect",
    "tcp_connections",
    "types",
    "udp_echo",
]


class HostError(Exception):
    """A host function refused (``denied``), could not answer
    (``unavailable``) or rejected its arguments (``invalid``)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_KINDS = {
    types.HostError_Denied: "denied",
    types.HostError_Unavailable: "unavailable",
    types.HostError_Invalid: "invalid",
}


def _call(function, *args):
    try:
        return function(*args)
    except Err as error:
        value = error.value
        raise HostError(_KINDS.get(type(value), "unavailable"), str(getattr(value, "value", value))) from None


def gauge(name: str, unit: str, description: str = "") -> types.MetricDescriptor:
    """A metric that goes up and down."""
    return types.MetricDescriptor(name=name, unit=unit, kind=types.MetricKind.GAUGE, description=description)


def counter(name: str, unit: str, description: str = "") -> types.MetricDescriptor:
    """A metric that only grows, reset when its source restarts."""
    return types.MetricDescriptor(name=name, unit=unit, kind=types.MetricKind.COUNTER, description=description)


def _tags(tags: Tags) -> List[Tuple[str, str]]:
    if not tags:
        return []
    items = tags.items() if isinstance(tags, Mapping) else tags
    return [(str(k), str(v)) for k, v in items]


_SEVERITIES = {
    "info": types.Severity.INFO,
    "warning": types.Severity.WARNING,
    "error": types.Severity.ERROR,
    "critical": types.Severity.CRITICAL,
}


class Collector:
    """What one collect call gathers."""

    def __init__(self) -> None:
        self.metrics: List[types.Metric] = []
        self.events: List[types.Event] = []

    def metric(self, name: str, value: float, tags: Tags = None, timestamp_ms: Optional[int] = None) -> "Collector":
        """Add a measured value."""
        self.metrics.append(types.Metric(name=name, value=float(value), tags=_tags(tags), timestamp_ms=timestamp_ms))
        return self

    def event(
        self,
        kind: str,
        message: str,
        severity: str = "info",
        fields: Tags = None,
        timestamp_ms: Optional[int] = None,
    ) -> "Collector":
        """Add an event; severity is info, warning, error or critical."""
        if severity not in _SEVERITIES:
            raise ValueError(f"severity {severity!r} is not one of {', '.join(_SEVERITIES)}")
        self.events.append(
            types.Event(
                kind=kind,
                severity=_SEVERITIES[severity],
                message=str(message),
                fields=_tags(fields),
                timestamp_ms=timestamp_ms,
            )
        )
        return self


class Plugin:
    """Subclass it, set the metadata, implement :meth:`collect`."""

    name: str = ""
    version: str = "0.1.0"
    description: str = ""
    metrics: Sequence[types.MetricDescriptor] = ()
    capabilities: Sequence[str] = ()
    default_interval_ms: int = 10_000

    def collect(self, out: Collector) -> None:
        raise NotImplementedError("a plugin implements collect(self, out)")


def export(plugin_class: type) -> type:
    """The ``Guest`` class componentize-py exports: ``Guest = export(MyPlugin)``."""
    if not getattr(plugin_class, "name", ""):
        raise ValueError(f"{plugin_class.__name__} has no name")
    holder: Dict[str, Plugin] = {}

    def instance() -> Plugin:
        # Made at the first call, not while the component is built.
        if "plugin" not in holder:
            holder["plugin"] = plugin_class()
        return holder["plugin"]

    class Guest(exports.Guest):
        def metadata(self) -> types.PluginInfo:
            return types.PluginInfo(
                name=plugin_class.name,
                version=plugin_class.version,
                description=plugin_class.description,
                metrics=list(plugin_class.metrics),
                capabilities=list(plugin_class.capabilities),
                default_interval_ms=int(plugin_class.default_interval_ms),
            )

        def collect(self) -> types.Collection:
            out = Collector()
            try:
                instance().collect(out)
            except Err:
                raise
            except Exception as error:  # the call's error, for the agent's log
                raise Err(f"{type(error).__name__}: {error}") from None
            return types.Collection(metrics=out.metrics, events=out.events)

    return Guest


# Host calls. Each needs its capability granted in agent.yml.

_LEVELS = {
    "trace": _host.LogLevel.TRACE,
    "debug": _host.LogLevel.DEBUG,
    "info": _host.LogLevel.INFO,
    "warn": _host.LogLevel.WARN,
    "error": _host.LogLevel.ERROR,
}


def log(level: str, message: str) -> None:
    """Capability ``log``; level is trace, debug, info, warn or error."""
    _call(_host.log, _LEVELS[level], str(message))


def now_ms() -> int:
    """Capability ``clock``: Unix milliseconds."""
    return _call(_host.now_ms)


def config_get(key: str, default: Optional[str] = None) -> Optional[str]:
    """Capability ``config``: a value of this plugin's config map."""
    value = _call(_host.config_get, key)
    return default if value is None else value


def config_keys() -> List[str]:
    """Capability ``config``: every key of this plugin's config map."""
    return _call(_host.config_keys)


def snapshot(
    cpu: bool = False, memory: bool = False, disks: bool = False, networks: bool = False, processes: bool = False
) -> _system.SystemSnapshot:
    """Capability ``system``: a snapshot of the parts asked for."""
    return _call(_system.snapshot, _system.SnapshotRequest(cpu, memory, disks, networks, processes))


def tcp_connections(ports: Sequence[int]) -> List[_system.PortConnections]:
    """Capability ``system``: TCP sockets per local port."""
    return _call(_system.tcp_connections, list(ports))


def protocol_counters() -> _system.ProtocolStats:
    """Capability ``system``: kernel protocol counters."""
    return _call(_system.protocol_counters)


def processes_named(names: Sequence[str]) -> List[_system.ProcessGroup]:
    """Capability ``system``: processes by name, taken together."""
    return _call(_system.processes_named, list(names))


def _sql_param(value: Any) -> Any:
    if value is None:
        return _sql.SqlValue_Null()
    if isinstance(value, bool):
        return _sql.SqlValue_Int(int(value))
    if isinstance(value, int):
        return _sql.SqlValue_Int(value)
    if isinstance(value, float):
        return _sql.SqlValue_Float(value)
    if isinstance(value, (bytes, bytearray)):
        return _sql.SqlValue_Bytes(bytes(value))
    return _sql.SqlValue_Text(str(value))


def query(connection: str, statement: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
    """Capability ``sql``: one SELECT; rows as dicts keyed by column (NULL is None)."""
    result = _call(_sql.query, connection, statement, [_sql_param(p) for p in params])
    return [
        {column: getattr(cell, "value", None) for column, cell in zip(result.columns, row)} for row in result.rows
    ]


def tail(path: str, start: str = "end", max_bytes: int = 1 << 20) -> _file.TailResult:
    """Capability ``file``: lines appended since the last call; start is beginning or end."""
    where = _file.StartAt.BEGINNING if start == "beginning" else _file.StartAt.END
    return _call(_file.tail, path, where, max_bytes)


def read_file(path: str, max_bytes: int = 1 << 20) -> bytes:
    """Capability ``file``: the first ``max_bytes`` of a file."""
    return _call(_file.read, path, max_bytes)


def tcp_connect(targets: Sequence[str], timeout_ms: int = 1000) -> List[_net.TcpProbe]:
    """Capability ``net``: TCP connect probes."""
    return _call(_net.tcp_connect, list(targets), timeout_ms)


def udp_echo(
    targets: Sequence[str], count: int = 5, spacing_ms: int = 100, timeout_ms: int = 500
) -> List[_net.UdpProbe]:
    """Capability ``net``: UDP echo probes to peers' echo responders."""
    return _call(_net.udp_echo, list(targets), count, spacing_ms, timeout_ms)


def http_get(url: str, timeout_ms: int = 2000, max_bytes: int = 1 << 20) -> _http.Response:
    """Capability ``http``: GET under a granted prefix."""
    return _call(_http.get, url, timeout_ms, max_bytes)
