//! What a `loginlog` row says, by rAthena's codes.
//!
//! Facts from rAthena's login-server (loginclif.cpp `logclif_auth_failed`,
//! loginchrif.cpp, login.cpp, loginlog.cpp, conf/msg_conf/login_msg.conf):
//!
//! - A refused login writes its refusal code: 0-15 and 99-104, with the
//!   client's text (`Unregistered ID.`, `Incorrect Password.`, `Banned.`...).
//! - An address on the ip-ban list writes rcode -3, user `unknown`,
//!   `ip banned`.
//! - rcode 100 is not only a success (`login ok`): a failed PIN code check
//!   (`PIN Code check failed`, the account's last address), a char-server
//!   connecting (`charserver - ...`) and the server starting or stopping
//!   (`login server started`) are logged with 100 too, and a refusal with
//!   code 100 writes `Login info remains.`.
//! - rAthena itself counts only rcode 0 and 1 as failed password attempts
//!   (its dynamic ip ban).

/// What a loginlog row stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// `login ok`.
    Success,
    /// A char-server connecting, the login-server starting or stopping.
    Server,
    /// A refused login, for this reason.
    Failure(Reason),
}

/// Why a login was refused; [`Reason::tag`] names the metric tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// rcode 1.
    WrongPassword,
    /// rcode 0: no such account.
    UnknownAccount,
    /// The account is banned, blocked, locked or erased.
    Banned,
    /// rcode -3: the address is on the ip-ban list.
    IpBanned,
    /// rcode 100, `PIN Code check failed`.
    PinFailure,
    /// Anything else: expired, outdated client, server full, rejected...
    Refused,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::WrongPassword,
        Reason::UnknownAccount,
        Reason::Banned,
        Reason::IpBanned,
        Reason::PinFailure,
        Reason::Refused,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Reason::WrongPassword => "wrong_password",
            Reason::UnknownAccount => "unknown_account",
            Reason::Banned => "banned",
            Reason::IpBanned => "ip_banned",
            Reason::PinFailure => "pin_failure",
            Reason::Refused => "refused",
        }
    }
}

/// The `log` text of a failed PIN check (loginchrif.cpp).
pub const PIN_FAILED: &str = "PIN Code check failed";

/// Classify a row by its `rcode` and `log` text.
pub fn classify(rcode: i64, log: &str) -> Outcome {
    let log = log.trim();
    match rcode {
        1 => Outcome::Failure(Reason::WrongPassword),
        0 => Outcome::Failure(Reason::UnknownAccount),
        -3 => Outcome::Failure(Reason::IpBanned),
        // Banned until, blocked by GM, ban by DBA, ban by GM, temporary
        // ban for DB work, self lock, not permitted group, erased,
        // hacking or bug investigation.
        4 | 6 | 9 | 11 | 12 | 13 | 14 | 15 | 99 | 101 | 102 => Outcome::Failure(Reason::Banned),
        100 if log == "login ok" => Outcome::Success,
        100 if log == PIN_FAILED => Outcome::Failure(Reason::PinFailure),
        100 if log.starts_with("Login info remains") => Outcome::Failure(Reason::Refused),
        100 => Outcome::Server,
        _ => Outcome::Failure(Reason::Refused),
    }
}

/// SQL condition on loginlog for the failures that are guesses at a
/// password: a wrong password, an unknown account name, a failed PIN. Not a
/// banned player retrying, not an ip-banned address (user `unknown`).
pub const GUESS_CONDITION: &str =
    "(rcode IN (0, 1) OR (rcode = 100 AND log = 'PIN Code check failed')) AND user <> 'unknown'";

/// The same for one account: only a wrong password or PIN names an account
/// that exists.
pub const ACCOUNT_GUESS_CONDITION: &str =
    "(rcode = 1 OR (rcode = 100 AND log = 'PIN Code check failed')) AND user <> 'unknown'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_told_apart() {
        assert_eq!(classify(100, "login ok"), Outcome::Success);
        assert_eq!(
            classify(1, "Incorrect Password."),
            Outcome::Failure(Reason::WrongPassword)
        );
        assert_eq!(
            classify(0, "Unregistered ID."),
            Outcome::Failure(Reason::UnknownAccount)
        );
        assert_eq!(classify(6, "Banned."), Outcome::Failure(Reason::Banned));
        assert_eq!(
            classify(101, "Hacking investigation."),
            Outcome::Failure(Reason::Banned)
        );
        assert_eq!(
            classify(-3, "ip banned"),
            Outcome::Failure(Reason::IpBanned)
        );
        assert_eq!(
            classify(100, "PIN Code check failed"),
            Outcome::Failure(Reason::PinFailure)
        );
        assert_eq!(
            classify(100, "charserver - rAthena@127.0.0.1:6121"),
            Outcome::Server
        );
        assert_eq!(classify(100, "login server started"), Outcome::Server);
        assert_eq!(
            classify(100, "Login info remains."),
            Outcome::Failure(Reason::Refused)
        );
        assert_eq!(
            classify(5, "Not latest game EXE."),
            Outcome::Failure(Reason::Refused)
        );
        assert_eq!(
            classify(22, "Unknown Error."),
            Outcome::Failure(Reason::Refused)
        );
    }

    #[test]
    fn tags_are_distinct() {
        let mut tags: Vec<&str> = Reason::ALL.iter().map(|r| r.tag()).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), Reason::ALL.len());
    }
}
