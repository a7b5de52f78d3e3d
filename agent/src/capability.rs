//! Capabilities: the host functions a plugin may call, each granted per plugin
//! in agent.yml. A call without its grant returns `host-error::denied`.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `host.log`: write to the agent's log.
    Log,
    /// `host.now-ms`: read the wall clock.
    Clock,
    /// `host.config-get`, `host.config-keys`: the plugin's own config values.
    Config,
    /// `system.*`: cpu, memory, disks, network, load, processes, TCP sockets
    /// per port, protocol counters.
    System,
    /// `sql.query`: read-only queries on the connections in the plugin's `sql` grant.
    Sql,
    /// `file.*`: read and tail files under the plugin's `files` grant.
    File,
    /// `net.*`: TCP and UDP echo probes to the plugin's `net` grant.
    Net,
    /// `http.get`: GET requests under the plugin's `http` grant.
    Http,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Log,
        Capability::Clock,
        Capability::Config,
        Capability::System,
        Capability::Sql,
        Capability::File,
        Capability::Net,
        Capability::Http,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock",
            Capability::Config => "config",
            Capability::System => "system",
            Capability::Sql => "sql",
            Capability::File => "file",
            Capability::Net => "net",
            Capability::Http => "http",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| UnknownCapability(name.to_string()))
    }
}
