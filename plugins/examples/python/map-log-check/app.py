"""Example plugin in Python: what rAthena's map-server writes to its console
log. Each call reads the lines appended since the last one and counts them
by level (``[Error]``, ``[Warning]``, ``[Status]``...; the tags
rAthena's src/common/showmsg.cpp prints); an ``[Error]`` line becomes an
event.

Config ``path`` is the log file (default /opt/rathena/log/map-server.log);
grant ``file`` with that path.
"""

import re

from p2pmon_plugin import Plugin, export, gauge, config_get, tail

LEVEL = re.compile(r"^\[(Status|Info|Notice|Warning|Error|Debug|SQL|Fatal Error)\]")


class MapLogCheck(Plugin):
    name = "map-log-check"
    version = "0.1.0"
    description = "Counts the map-server console log's lines by level."
    capabilities = ["config", "file"]
    default_interval_ms = 10_000
    metrics = [
        gauge("map_log_lines", "count", "Lines the map-server logged since the last call, by level"),
        gauge("map_log_backlog_bytes", "bytes", "Bytes written to the log and not yet read"),
    ]

    def collect(self, out):
        path = config_get("path", "/opt/rathena/log/map-server.log")
        # The first call reads the whole file: a fresh log is counted too.
        read = tail(path, start="beginning")
        counts = {}
        for line in read.lines:
            match = LEVEL.match(line)
            level = match.group(1).lower().replace(" ", "_") if match else "other"
            counts[level] = counts.get(level, 0) + 1
            if level in ("error", "fatal_error"):
                out.event("map_log_error", line[:512], severity="error", fields={"path": path})
        for level in ("status", "info", "notice", "warning", "error", "debug", "sql", "fatal_error", "other"):
            out.metric("map_log_lines", counts.get(level, 0), {"level": level})
        out.metric("map_log_backlog_bytes", read.backlog_bytes)


Guest = export(MapLogCheck)
