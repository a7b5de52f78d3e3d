//! Alert email through a real SMTP server (Debian's python3-aiosmtpd,
//! started here): STARTTLS with a private CA, authentication, recipients and
//! subject; a wrong password delivers nothing and the channel gives up after
//! its attempts (aiosmtpd stalls after a failed AUTH, so this also covers a
//! server that stops answering).

use std::path::Path;
use std::time::Duration;

use p2pmon_tests::aggregator::TestAggregator;
use p2pmon_tests::smtp::{received, smtp_server};
use p2pmon_tests::wait::eventually;

fn rules(port: u16, ca: &Path, password: &str) -> String {
    format!(
        "alerts:
  memory_usage: {{ warning: 75, critical: 85, duration: 0 }}
notifications:
  email:
    enabled: true
    recipients: [admin@yourserver.com, oncall@yourserver.com]
    from: 'p2pmon <alerts@yourserver.com>'
    smtp: {{ host: 127.0.0.1, port: {port}, security: starttls, username: alerts, password: '{password}', ca_file: '{ca}' }}
  max_attempts: 2
  retry_base_ms: 100
  timeout_ms: 3000
",
        ca = ca.display()
    )
}

#[tokio::test]
async fn an_alert_is_mailed_over_starttls_with_authentication() -> anyhow::Result<()> {
    let server = smtp_server("s3cret")?;
    let agg =
        TestAggregator::start_with_alerts(&rules(server.port, &server.cert, "s3cret")).await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "memory_usage", 91.0).await?;

    let mails = eventually(Duration::from_secs(15), async || {
        let mails = received(server.store.path());
        anyhow::ensure!(!mails.is_empty(), "no message received");
        Ok(mails)
    })
    .await?;
    assert_eq!(mails.len(), 1, "one message for both recipients");
    let (text, envelope) = &mails[0];
    assert_eq!(envelope["tls"], true, "sent after STARTTLS");
    assert_eq!(envelope["authenticated"], true);
    assert_eq!(envelope["mail_from"], "alerts@yourserver.com");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["admin@yourserver.com", "oncall@yourserver.com"])
    );
    assert!(
        text.contains("Subject: [CRITICAL] memory_usage on host-a"),
        "{text}"
    );
    assert!(
        text.contains("memory_usage on host-a is 91.00: critical"),
        "{text}"
    );
    drop(server);
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_delivers_nothing_and_gives_up() -> anyhow::Result<()> {
    let server = smtp_server("right")?;
    let agg =
        TestAggregator::start_with_alerts(&rules(server.port, &server.cert, "wrong-password"))
            .await?;
    let cred = agg.host("host-a").await?;
    agg.gauge(&cred, "memory_usage", 80.0).await?;
    eventually(Duration::from_secs(15), async || {
        let counts = agg.channel_counts("email");
        anyhow::ensure!(counts.1 > 0, "no failed delivery: {counts:?}");
        Ok(())
    })
    .await?;
    assert_eq!(
        agg.channel_counts("email"),
        (0, 1, 1),
        "(sent, failed, retried)"
    );
    assert!(received(server.store.path()).is_empty());
    drop(server);
    Ok(())
}

#[tokio::test]
async fn an_email_channel_without_encryption_off_loopback_is_refused_at_start() -> anyhow::Result<()>
{
    let result = TestAggregator::start_with_alerts(
        "notifications:\n  email:\n    enabled: true\n    recipients: [not-an-address]\n    smtp: { host: smtp.example.com, security: none }\n",
    )
    .await;
    let error = match result {
        Ok(_) => anyhow::bail!("started with an unencrypted remote SMTP server"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("notifications.email.smtp.security"),
        "{error}"
    );
    assert!(
        error.contains("notifications.email.recipients[0]"),
        "{error}"
    );
    Ok(())
}
