//! The scoped capabilities refuse what their grant does not cover, with an
//! error that says why, and bound what they do cover: run through a real
//! plugin (the hostile fixture) in an agent against the local MariaDB.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use p2pmon_tests::world::{MARIADB, World, round, value};

/// The hostile fixture in `mode`, granted `grants` and `capabilities`.
fn hostile(mode: &str, capabilities: &str, grants: &str, config: &str) -> String {
    format!(
        r#"  - name: probe
    file: p2pmon_fixture_hostile.wasm
    capabilities: [config, {capabilities}]
    grants: {{ {grants} }}
    time_ms: 5000
    config: {{ mode: {mode}, {config} }}
"#
    )
}

/// Run one round and return the plugin's error text (the test fails if the
/// call succeeded).
async fn refused(world: &World, plugin: &str) -> anyhow::Result<String> {
    let mut agent = world.agent("", plugin).await?;
    let outcome = round(&mut agent).await;
    agent.close().await;
    match outcome {
        Ok(records) => anyhow::bail!("expected a refusal, got {records:?}"),
        Err(error) => Ok(error.to_string()),
    }
}

#[tokio::test]
async fn sql_refuses_ungranted_connections_and_anything_but_one_select() -> anyhow::Result<()> {
    let world = World::new("cap_sql").await?;
    world.sim.set_players("izlude", 2).await?;
    let granted = |statement: &str| {
        hostile(
            "sql",
            "sql",
            "sql: [main]",
            &format!("connection: main, statement: \"{statement}\""),
        )
    };

    let error = refused(
        &world,
        &hostile("sql", "sql", "sql: [main]", "connection: logs"),
    )
    .await?;
    assert!(
        error.contains("connection `logs` is not granted"),
        "{error}"
    );
    for (statement, why) in [
        ("UPDATE `char` SET zeny = 1", "only SELECT"),
        ("SELECT 1; SELECT 2", "one statement"),
        (
            "SELECT name FROM `char` INTO OUTFILE '/tmp/p2pmon-leak'",
            "not allowed",
        ),
        ("SELECT * FROM `char` FOR UPDATE", "not allowed"),
    ] {
        let error = refused(&world, &granted(statement)).await?;
        assert!(error.contains(why), "{statement}: {error}");
    }
    assert!(!std::path::Path::new("/tmp/p2pmon-leak").exists());
    // The session is read-only on the server too, whatever the statement.
    let mut conn =
        mysql_async::Conn::from_url(format!("{MARIADB}/{}", world.config.main_db)).await?;
    let zeny: Option<u32> = conn.query_first("SELECT MAX(zeny) FROM `char`").await?;
    assert_ne!(zeny, Some(1));

    // A granted SELECT works.
    let mut agent = world
        .agent("", &granted("SELECT char_id FROM `char` WHERE online > 0"))
        .await?;
    assert_eq!(value(&round(&mut agent).await?, "rows", &[]), Some(2.0));
    agent.close().await;

    // A slow query is cancelled at the connection's limit (1 s here) and
    // killed on the server.
    let started = Instant::now();
    let error = refused(&world, &granted("SELECT SLEEP(5)")).await?;
    assert!(error.contains("cancelled after 1000 ms"), "{error}");
    assert!(
        started.elapsed().as_secs_f64() < 4.5,
        "took {:?}",
        started.elapsed()
    );
    let mut still_running = 1;
    for _ in 0..50 {
        still_running = conn
            .query_first::<u64, _>(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(5)%'",
            )
            .await?
            .unwrap_or(0);
        if still_running == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(still_running, 0, "the slow query was not killed");
    drop(conn);
    world.close().await
}

#[tokio::test]
async fn files_outside_the_grant_are_refused() -> anyhow::Result<()> {
    let world = World::new("cap_file").await?;
    let logs = world.log_dir();
    let grant = format!("files: [\"{}\"]", logs.display());
    let read = |path: &str, mode: &str| hostile(mode, "file", &grant, &format!("path: \"{path}\""));

    let dotdot = format!("{}/../agent.yml", logs.display());
    let error = refused(&world, &read(&dotdot, "read")).await?;
    assert!(error.contains("outside the granted paths"), "{error}");
    std::os::unix::fs::symlink("/etc/passwd", logs.join("passwd"))?;
    let error = refused(
        &world,
        &read(&logs.join("passwd").display().to_string(), "tail"),
    )
    .await?;
    assert!(error.contains("resolves to /etc/passwd"), "{error}");

    world.close().await
}

#[tokio::test]
async fn probes_reach_only_granted_targets() -> anyhow::Result<()> {
    let world = World::new("cap_net").await?;
    let granted = format!("net: [\"{}\"]", world.map_server);
    let ok = hostile(
        "tcp",
        "net",
        &granted,
        &format!("target: \"{}\"", world.map_server),
    );
    let mut agent = world.agent("", &ok).await?;
    assert_eq!(value(&round(&mut agent).await?, "rows", &[]), Some(1.0));
    agent.close().await;

    let other = hostile("tcp", "net", &granted, "target: \"127.0.0.1:22\"");
    let error = refused(&world, &other).await?;
    assert!(error.contains("127.0.0.1:22 is not granted"), "{error}");
    // A granted URL is fetched; a body over the plugin's limit (1 MiB) is
    // refused, not truncated.
    let server = http_server().await?;
    let fetch = |path: &str| {
        hostile(
            "http",
            "http",
            &format!("http: [\"http://{server}/status/\"]"),
            &format!("url: \"http://{server}/status/{path}\""),
        )
    };
    let mut agent = world.agent("", &fetch("small")).await?;
    assert_eq!(value(&round(&mut agent).await?, "bytes", &[]), Some(5.0));
    agent.close().await;
    let error = refused(&world, &fetch("big")).await?;
    assert!(error.contains("body over 1048576 bytes"), "{error}");

    let url = hostile(
        "http",
        "http",
        "http: [\"http://127.0.0.1:9/api/\"]",
        "url: \"http://127.0.0.1:9/admin\"",
    );
    let error = refused(&world, &url).await?;
    assert!(error.contains("is not under a URL granted"), "{error}");
    world.close().await
}

/// A local status endpoint: `/status/small` answers `hello`, anything else
/// 2 MiB.
async fn http_server() -> anyhow::Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let small =
                    String::from_utf8_lossy(&request[..n]).starts_with("GET /status/small ");
                let body = if small {
                    b"hello".to_vec()
                } else {
                    vec![b'x'; 2 << 20]
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    Ok(address)
}
