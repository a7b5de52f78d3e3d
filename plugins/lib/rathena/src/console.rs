//! Security lines of the map-server's console log file.
//!
//! rAthena writes that file only when `console_msg_log` (map_athena.conf,
//! default 0) asks for it: 1 warnings, 2 errors and SQL errors, 4 debug.
//! Each line is `(%m/%d/%Y %H:%M:%S) [ Warning ] : <message>` (showmsg.cpp
//! `_vShowMessage`), the message as formatted, colour codes included when
//! the format string carries them. Info, Status and Notice lines never go
//! there. The lines recognised here, by the rAthena file that writes them:
//!
//! ```text
//! (12/01/2026 21:41:45) [ Warning ] : connect_check: DDoS Attack detected from 203.0.113.66!
//! (...) [ Warning ] : clif_parse: Received unsupported packet (packet 0x0f00, 12 bytes received), disconnecting session #40.
//! (...) [ Warning ] : clif_parse: Received packet 0x0072 specifies invalid packet_len (9000), disconnecting session #17.
//! (...) [ Warning ] : clif_parse: Received packet 0x0072 with expected packet length 19, but only 5 bytes remaining, disconnecting session #17.
//! (...) [ Warning ] : clif_process_message: Received malformed packet from player 'Hero' (no message data)!
//! (...) [ Error ] : clif_parse_SearchStoreInfo: Malformed packet (expected length=12, length=9, account_id=2000001).
//! (...) [ Warning ] : Player 150001 sent incorrect cash shop buy packet (len 10:14)!
//! (...) [ Warning ] : Connection to Char Server lost.
//! ```
//!
//! The first is socket.cpp, the last chrif.cpp (the map-server lost its
//! char-server: its port still answers, but nobody can log in or change
//! map-server until it reconnects), the others clif.cpp. "Hack on trade" (trade.cpp)
//! is only whispered to GMs and "Hack on NameRequest" is commented out in
//! clif.cpp: neither ever reaches this file, so neither is looked for.

/// What a security line says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finding {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// The address, for DDoS lines.
    pub ip: Option<String>,
    /// The character's name, when the line names it.
    pub character: Option<String>,
    /// The account id, when the line carries it.
    pub account_id: Option<String>,
    /// The character id, when the line carries it.
    pub char_id: Option<String>,
    /// The packet id (`0x0072`), for packet lines.
    pub packet: Option<String>,
    /// The map-server session (socket) the line is about.
    pub session: Option<String>,
}

/// Every kind [`parse`] can return, for zero-valued counters.
pub const KINDS: [&str; 6] = [
    "char_server_lost",
    "ddos_detected",
    "unsupported_packet",
    "invalid_packet_length",
    "truncated_packet",
    "malformed_packet",
];

/// A console-log line split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// `MM/DD/YYYY HH:MM:SS` (server local time), when stamped.
    pub time: Option<String>,
    /// `Warning`, `Error`, `SQL Error`, `Debug`.
    pub level: Option<String>,
    /// The message, colour codes removed.
    pub message: String,
}

/// Split a line of the file: `(time) [ Level ] : message`. A line without
/// the stamp (a message that spans lines) is all message.
pub fn split(raw: &str) -> Line {
    let text = strip_colours(raw.trim_end_matches(['\r', '\n']));
    let stamped = text.strip_prefix('(').and_then(|rest| {
        let (time, rest) = rest.split_once(") [ ")?;
        let (level, message) = rest.split_once(" ] : ")?;
        Some(Line {
            time: Some(time.to_string()),
            level: Some(level.to_string()),
            message: message.to_string(),
        })
    });
    stamped.unwrap_or(Line {
        time: None,
        level: None,
        message: text,
    })
}

/// Remove ANSI escape sequences (`ESC [ ... letter`), as rAthena's `CL_*`
/// colour macros write them.
pub fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// The finding in `raw`, if it is a security line.
pub fn parse(raw: &str) -> Option<Finding> {
    let line = split(raw);
    let m = line.message.as_str();
    if m.trim_end() == "Connection to Char Server lost." {
        return Some(Finding {
            kind: "char_server_lost",
            ..Finding::default()
        });
    }
    if let Some(rest) = after(m, "DDoS Attack detected from ") {
        let ip: String = rest
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
            .collect();
        return Some(Finding {
            kind: "ddos_detected",
            ip: (!ip.is_empty()).then_some(ip),
            ..Finding::default()
        });
    }
    let session = || after(m, "session #").and_then(digits);
    if let Some(rest) = after(m, "Received unsupported packet (packet ") {
        return Some(Finding {
            kind: "unsupported_packet",
            packet: hex(rest),
            session: session(),
            ..Finding::default()
        });
    }
    if let Some(rest) = after(m, "clif_parse: Received packet ") {
        let kind = if rest.contains("specifies invalid packet_len") {
            "invalid_packet_length"
        } else if rest.contains("but only") && rest.contains("bytes remaining") {
            "truncated_packet"
        } else {
            return None;
        };
        return Some(Finding {
            kind,
            packet: hex(rest),
            session: session(),
            ..Finding::default()
        });
    }
    if let Some(rest) = after(m, "Received malformed packet from player '") {
        return Some(Finding {
            kind: "malformed_packet",
            character: rest.rsplit_once("' (").map(|(name, _)| name.to_string()),
            ..Finding::default()
        });
    }
    if m.starts_with("clif_parse_")
        && (m.contains("Malformed packet (") || m.contains("Unexpected item list size"))
    {
        return Some(Finding {
            kind: "malformed_packet",
            account_id: after(m, "account_id=").and_then(digits),
            ..Finding::default()
        });
    }
    if let Some(rest) = m.strip_prefix("Player ")
        && rest.contains(" sent incorrect cash shop buy packet")
    {
        return Some(Finding {
            kind: "malformed_packet",
            char_id: digits(rest),
            ..Finding::default()
        });
    }
    None
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.find(marker).map(|at| &text[at + marker.len()..])
}

fn digits(text: &str) -> Option<String> {
    let found: String = text.chars().take_while(char::is_ascii_digit).collect();
    (!found.is_empty()).then_some(found)
}

fn hex(text: &str) -> Option<String> {
    let rest = text.strip_prefix("0x")?;
    let found: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (!found.is_empty()).then(|| format!("0x{found}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "(12/01/2026 21:41:45) ";

    fn line(level: &str, message: &str) -> String {
        format!("{STAMP}[ {level} ] : {message}\n")
    }

    #[test]
    fn lines_are_split_as_rathena_writes_them() {
        let split = split(&line("SQL Error", "DB error - Table 'x' doesn't exist"));
        assert_eq!(split.time.as_deref(), Some("12/01/2026 21:41:45"));
        assert_eq!(split.level.as_deref(), Some("SQL Error"));
        assert_eq!(split.message, "DB error - Table 'x' doesn't exist");
        let bare = super::split("[Debug]: a continued line");
        assert_eq!(
            (bare.time, bare.message.as_str()),
            (None, "[Debug]: a continued line")
        );
        assert_eq!(
            strip_colours("from '\u{1b}[1;37m203.0.113.9\u{1b}[0m'\u{1b}[K!"),
            "from '203.0.113.9'!"
        );
    }

    #[test]
    fn every_security_line_with_its_subject() {
        let ddos = parse(&line(
            "Warning",
            "connect_check: DDoS Attack detected from 203.0.113.66!",
        ))
        .expect("ddos");
        assert_eq!(
            (ddos.kind, ddos.ip.as_deref()),
            ("ddos_detected", Some("203.0.113.66"))
        );

        let unsupported = parse(&line("Warning", "clif_parse: Received unsupported packet (packet 0x0f00, 12 bytes received), disconnecting session #40.")).expect("unsupported");
        assert_eq!(unsupported.kind, "unsupported_packet");
        assert_eq!(unsupported.packet.as_deref(), Some("0x0f00"));
        assert_eq!(unsupported.session.as_deref(), Some("40"));

        let invalid = parse(&line("Warning", "clif_parse: Received packet 0x0072 specifies invalid packet_len (9000), disconnecting session #17.")).expect("invalid");
        assert_eq!(
            (invalid.kind, invalid.packet.as_deref()),
            ("invalid_packet_length", Some("0x0072"))
        );
        assert_eq!(invalid.session.as_deref(), Some("17"));

        let truncated = parse(&line("Warning", "clif_parse: Received packet 0x0072 with expected packet length 19, but only 5 bytes remaining, disconnecting session #18.")).expect("truncated");
        assert_eq!(
            (truncated.kind, truncated.session.as_deref()),
            ("truncated_packet", Some("18"))
        );

        let player = parse(&line("Warning", "clif_process_message: Received malformed packet from player 'Hero 'One'' (no message data)!")).expect("player");
        assert_eq!(player.kind, "malformed_packet");
        assert_eq!(
            player.character.as_deref(),
            Some("Hero 'One'"),
            "quotes inside names"
        );

        let account = parse(&line("Error", "clif_parse_SearchStoreInfo: Malformed packet (expected length=12, length=9, account_id=2000001).")).expect("account");
        assert_eq!(
            (account.kind, account.account_id.as_deref()),
            ("malformed_packet", Some("2000001"))
        );
        let list = parse(&line("Error", "clif_parse_ReqOpenBuyingStore: Unexpected item list size 7 (account_id=2000003, block size=8)")).expect("list");
        assert_eq!(list.account_id.as_deref(), Some("2000003"));

        let cash = parse(&line(
            "Warning",
            "Player 150001 sent incorrect cash shop buy packet (len 10:14)!",
        ))
        .expect("cash");
        assert_eq!(
            (cash.kind, cash.char_id.as_deref()),
            ("malformed_packet", Some("150001"))
        );

        assert_eq!(
            parse(&line("Warning", "Connection to Char Server lost.\n")).map(|f| f.kind),
            Some("char_server_lost")
        );

        // Colour codes around the address do not hide it.
        let coloured = parse(&format!("{STAMP}[ Warning ] : connect_check: DDoS Attack detected from \u{1b}[1;37m198.51.100.7\u{1b}[0m!")).expect("coloured");
        assert_eq!(coloured.ip.as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn routine_and_dead_lines_are_not_findings() {
        for message in [
            "Saving 12 characters to the char-server.",
            "clif_parse: It looks like you have enabled PACKET_OBFUSCATION on server side, but disabled it on client side.",
            "Hack on trade: character 'X' (account: 2000001) try to trade more items that he has.",
            "clif_parse: Received packet 0x0072 and something else",
            "",
        ] {
            assert_eq!(parse(&line("Warning", message)), None, "{message}");
        }
        // A DDoS line without an address still counts, without an ip.
        assert_eq!(
            parse("DDoS Attack detected from !").map(|f| f.ip),
            Some(None)
        );
    }
}
