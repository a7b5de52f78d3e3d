//! What `p2pmon-agent plugin test` and `plugin new` do: the author's tools,
//! for plugins in any language.
//!
//! - [`test`]: run a plugin once or N times in the agent's sandbox, with sql,
//!   file, net and http answered from fixture files, and print what it
//!   returned, what validation refused and what the sandbox refused.
//! - [`scaffold`]: a new plugin project in Rust, Python or JavaScript that
//!   builds and passes `plugin test` as generated.

pub mod scaffold;
pub mod test;

pub use scaffold::{Lang, ScaffoldError, scaffold};
pub use test::{TestOptions, TestReport, run_test};
