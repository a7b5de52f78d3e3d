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
    /// `system.snapshot`: cpu, memory, disks, network, load, processes.
    System,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Log,
        Capability::Clock,
        Capability::Config,
        Capability::System,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock",
            Capability::Config => "config",
            Capability::System => "system",
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
