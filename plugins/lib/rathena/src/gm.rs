//! GM commands (atcommandlog `command`) that create items or zeny.

/// What a creating command made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creation {
    Items(i64),
    Zeny(i64),
}

/// The commands `creating` names (without `@`/`#`, e.g. `item`, `zeny`)
/// with how much they created: `@item 607 100`, `@zeny 5000`,
/// `#item Bob 607 100` (char commands name the target first). `None` for any
/// other command.
pub fn creation(command: &str, creating: &[String]) -> Option<Creation> {
    let mut words = command.split_whitespace();
    let word = words.next()?;
    let name = word.trim_start_matches(['@', '#']).to_ascii_lowercase();
    if !creating.iter().any(|c| c.eq_ignore_ascii_case(&name)) {
        return None;
    }
    let mut args: Vec<&str> = words.collect();
    if word.starts_with('#') && !args.is_empty() {
        args.remove(0);
    }
    let number = |at: usize| args.get(at).and_then(|w| w.parse::<i64>().ok());
    Some(if name == "zeny" {
        Creation::Zeny(number(0).unwrap_or(0))
    } else {
        // `<item id or name> <amount>`; the amount defaults to 1.
        Creation::Items(number(1).unwrap_or(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creating() -> Vec<String> {
        ["item", "zeny", "itembound"].map(String::from).to_vec()
    }

    #[test]
    fn amounts_are_read_from_each_form() {
        assert_eq!(
            creation("@item 607 100", &creating()),
            Some(Creation::Items(100))
        );
        assert_eq!(
            creation("@item Red_Potion", &creating()),
            Some(Creation::Items(1))
        );
        assert_eq!(
            creation("@ZENY 100000000", &creating()),
            Some(Creation::Zeny(100_000_000))
        );
        assert_eq!(
            creation("#item Hero 607 7", &creating()),
            Some(Creation::Items(7))
        );
        assert_eq!(
            creation("#zeny Hero 500", &creating()),
            Some(Creation::Zeny(500))
        );
    }

    #[test]
    fn other_commands_are_not_creation() {
        assert_eq!(creation("@warp prontera 150 150", &creating()), None);
        assert_eq!(creation("@itemreset", &creating()), None);
        assert_eq!(creation("", &creating()), None);
    }
}
