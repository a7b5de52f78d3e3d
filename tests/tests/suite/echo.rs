//! The agent answers peers' UDP echo probes on `net.echo_listen`, so the
//! network plugin on another host can measure round trip, loss and jitter to
//! it; a taken port stops start-up with an error naming the setting.

use std::time::Duration;

use p2pmon_agent::access::net::{NetAccess, Target};
use p2pmon_tests::agent_process::{AgentProcess, counter};

fn agent(dir: &std::path::Path, listen: &str) -> anyhow::Result<AgentProcess> {
    AgentProcess::configure(
        &crate::bins::agent(),
        dir,
        "echo-host",
        "http://127.0.0.1:9",
        "",
        &[counter(1000)],
        &format!(
            "output: {{kind: stdout}}\nnet: {{echo_listen: '{listen}', echo_max_per_second: 100}}"
        ),
    )
}

#[tokio::test]
async fn a_running_agent_answers_echo_probes() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut first = agent(&root.path().join("a"), &listen)?;
    first.start()?;
    first.wait_for_log("Answering UDP echo probes", Duration::from_secs(30))?;

    let probe = NetAccess::new(vec![
        Target::parse_grant("127.0.0.1:*").map_err(anyhow::Error::msg)?,
    ]);
    let results = probe
        .udp_echo(vec![listen.clone()], 10, 5, 500, Duration::from_secs(2))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        (results[0].sent, results[0].received),
        (10, 10),
        "{:?}",
        results[0]
    );
    assert!(results[0].max_ms >= results[0].min_ms && results[0].min_ms > 0.0);

    // A second agent on the same port: refused at start, naming the setting.
    let mut second = agent(&root.path().join("b"), &listen)?;
    second.start()?;
    let status = second.child.as_mut().map(|c| c.wait()).transpose()?;
    assert!(status.is_some_and(|s| !s.success()));
    assert!(second.log().contains("net.echo_listen"), "{}", second.log());
    first.stop()?;
    Ok(())
}
