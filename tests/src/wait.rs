//! Waiting for something to become true, instead of a hand-written poll loop
//! in every test.
//!
//! The probe says why it is not done yet by returning an error (`ensure!`,
//! `context`, or an `Err` from the call it makes); the error of the last try
//! is what a timeout reports, so a failure shows the state the test was
//! waiting on, not only that it waited.

use std::time::{Duration, Instant};

use anyhow::Result;

/// How often [`eventually`] and [`eventually_blocking`] try again.
pub const POLL: Duration = Duration::from_millis(50);

/// Run `probe` until it returns `Ok`, every [`POLL`], for at most `timeout`;
/// its value, or the last try's error with how long it was waited for.
///
/// ```no_run
/// # async fn example(agg: &p2pmon_tests::aggregator::TestAggregator) -> anyhow::Result<()> {
/// use std::time::Duration;
/// let alerts = p2pmon_tests::wait::eventually(Duration::from_secs(10), async || {
///     let (_, active) = agg.api("/api/v1/alerts/active").await?;
///     let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
///     anyhow::ensure!(!alerts.is_empty(), "no alert yet: {active}");
///     Ok(alerts)
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn eventually<T>(
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<T>,
) -> Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let error = match probe().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if tokio::time::Instant::now() + POLL > deadline {
            return Err(error.context(format!("not within {timeout:?}")));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for code outside an async runtime: the thread sleeps
/// between tries.
pub fn eventually_blocking<T>(
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let error = match probe() {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if Instant::now() + POLL > deadline {
            return Err(error.context(format!("not within {timeout:?}")));
        }
        std::thread::sleep(POLL);
    }
}

/// Wait (15 s at most) until `done` holds: for a flag or a count a stand-in
/// keeps, which has nothing more to say while it is not yet so.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    eventually(Duration::from_secs(15), async || {
        anyhow::ensure!(done(), "waiting for {what}");
        Ok(())
    })
    .await
}
