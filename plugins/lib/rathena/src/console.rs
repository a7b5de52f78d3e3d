//! Security lines of the map-server console log (`log/map-msg_log.log`,
//! console_msg_log in rAthena), e.g.
//!
//! ```text
//! [12/Nov 10:02:11][Warning]: connect_check: DDoS Attack detected from 203.0.113.66!
//! [12/Nov 10:02:12][Warning]: Hack on trade: character 'X' (account: 2000001) try to trade more items that he has.
//! ```

/// What a security line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Event kind: `ddos_detected`, `unsupported_packet`, `malformed_packet`,
    /// `hack_trade` or `hack_name_request`.
    pub kind: &'static str,
    /// The address, for DDoS lines.
    pub ip: Option<String>,
    /// The character and account, for hack lines.
    pub character: Option<String>,
    pub account_id: Option<String>,
}

/// Every kind [`parse`] can return, for zero-valued counters.
pub const KINDS: [&str; 5] = [
    "ddos_detected",
    "unsupported_packet",
    "malformed_packet",
    "hack_trade",
    "hack_name_request",
];

/// The finding in `line`, if it is a security line.
pub fn parse(line: &str) -> Option<Finding> {
    let finding = |kind| Finding {
        kind,
        ip: None,
        character: None,
        account_id: None,
    };
    if let Some(rest) = after(line, "DDoS Attack detected from ") {
        let ip: String = rest
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
            .collect();
        return Some(Finding {
            ip: (!ip.is_empty()).then_some(ip),
            ..finding("ddos_detected")
        });
    }
    if line.contains("Received unsupported packet") {
        return Some(finding("unsupported_packet"));
    }
    if line.to_ascii_lowercase().contains("malformed packet") {
        return Some(finding("malformed_packet"));
    }
    let hack = if line.contains("Hack on trade") {
        "hack_trade"
    } else if line.contains("Hack on NameRequest") {
        "hack_name_request"
    } else {
        return None;
    };
    Some(Finding {
        character: after(line, "character '")
            .and_then(|rest| rest.split('\'').next())
            .map(str::to_string),
        account_id: after(line, "account: ")
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|id| !id.is_empty()),
        ..finding(hack)
    })
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|at| &line[at + marker.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_lines_are_recognised() {
        let ddos = parse(
            "[12/Nov 10:02][Warning]: connect_check: DDoS Attack detected from 203.0.113.66!",
        );
        assert_eq!(ddos.as_ref().map(|f| f.kind), Some("ddos_detected"));
        assert_eq!(ddos.and_then(|f| f.ip).as_deref(), Some("203.0.113.66"));

        let trade = parse("[x][Warning]: Hack on trade: character 'Hero 1' (account: 2000001) try to trade more items that he has.")
            .expect("hack line");
        assert_eq!(trade.kind, "hack_trade");
        assert_eq!(trade.character.as_deref(), Some("Hero 1"));
        assert_eq!(trade.account_id.as_deref(), Some("2000001"));

        assert_eq!(
            parse("[x][Warning]: Hack on NameRequest: character 'A' (account: 7) requested")
                .map(|f| f.kind),
            Some("hack_name_request")
        );
        assert_eq!(
            parse("[x][Warning]: Received unsupported packet (packet 0x0f00, 12 bytes received), disconnecting session #40.").map(|f| f.kind),
            Some("unsupported_packet")
        );
        assert_eq!(
            parse("[x][Error]: clif_parse: Malformed packet 0x0072 from session #17")
                .map(|f| f.kind),
            Some("malformed_packet")
        );
    }

    #[test]
    fn routine_lines_are_not_findings() {
        assert_eq!(
            parse("[x][Status]: Saving 12 characters to the char-server."),
            None
        );
        assert_eq!(parse("[x][Info]: Hack on nothing"), None);
        // A DDoS line without an address still counts, without an ip.
        assert_eq!(
            parse("DDoS Attack detected from !").and_then(|f| f.ip),
            None
        );
    }
}
