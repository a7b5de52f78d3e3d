//! GM commands as rAthena logs them: `atcommandlog.command` is the command
//! exactly as typed (atcommand.cpp `is_atcommand` logs the message after a
//! successful run), and `account_id`/`char_name` are the GM's.
//!
//! - `@item "Red Potion" 10`: a name with spaces is quoted; `@item 501:502
//!   10` gives 10 of each id; a missing or non-positive amount is 1
//!   (atcommand.cpp `ACMD_FUNC(item)`).
//! - `#item "Char Name" 607 10` or `#item Bob 607 10`: a char command names
//!   its target first, quoted or as one word.
//! - `@zeny -1000000` takes zeny away (`ACMD_FUNC(zeny)`: `pc_payzeny`).

/// A command line split the way rAthena reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Without its `@` or `#`, lower case.
    pub name: String,
    /// The character a `#` command acts on; `None` for `@` (the GM himself).
    pub target: Option<String>,
    /// The rest of the line, after the target.
    pub params: String,
}

/// What a creating command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `each` of every item in `items` (ids or names).
    Items { items: Vec<String>, each: i64 },
    /// Zeny given (positive) or taken (negative).
    Zeny(i64),
}

impl Effect {
    /// Items made in all.
    pub fn item_total(&self) -> i64 {
        match self {
            Effect::Items { items, each } => items.len() as i64 * each,
            Effect::Zeny(_) => 0,
        }
    }
}

/// Split `line` into its command, target and parameters; `None` when it is
/// not a command.
pub fn parse(line: &str) -> Option<Command> {
    let line = line.trim();
    let symbol = line.chars().next().filter(|c| *c == '@' || *c == '#')?;
    let (word, rest) = split_word(&line[1..]);
    if word.is_empty() {
        return None;
    }
    let name = word.to_ascii_lowercase();
    if symbol == '@' {
        return Some(Command {
            name,
            target: None,
            params: rest.to_string(),
        });
    }
    let (target, params) = first_argument(rest);
    Some(Command {
        name,
        target: (!target.is_empty()).then(|| target.to_string()),
        params: params.to_string(),
    })
}

/// What `command` created or took, when its name is in `creating`
/// (`item`, `item2`, `itembound`, `zeny`...; aliases can be added there).
pub fn effect(command: &Command, creating: &[String]) -> Option<Effect> {
    if !creating
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&command.name))
    {
        return None;
    }
    if command.name == "zeny" {
        // atoi: a leading number, 0 when there is none.
        return Some(Effect::Zeny(leading_int(&command.params)));
    }
    let (item, rest) = first_argument(&command.params);
    if item.is_empty() {
        return None;
    }
    // `@item`, `@item2`, `@itembound(2)` take the amount second; `@produce`
    // (element second) and `@makeegg` make one.
    let each = if command.name.starts_with("item") {
        leading_int(split_word(rest).0)
    } else {
        1
    };
    Some(Effect::Items {
        items: item
            .split(':')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        each: if each <= 0 { 1 } else { each },
    })
}

/// The first argument, quoted (`"Red Potion"`) or one word, and the rest.
fn first_argument(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    if let Some(quoted) = text.strip_prefix('"')
        && let Some(end) = quoted.find('"')
    {
        return (&quoted[..end], quoted[end + 1..].trim_start());
    }
    split_word(text)
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

fn leading_int(text: &str) -> i64 {
    let text = text.trim_start();
    let digits_from = usize::from(text.starts_with(['-', '+']));
    let end = text[digits_from..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |at| at + digits_from);
    text[..end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creating() -> Vec<String> {
        ["item", "item2", "itembound", "zeny"]
            .map(String::from)
            .to_vec()
    }

    fn run(line: &str) -> Option<Effect> {
        effect(&parse(line)?, &creating())
    }

    #[test]
    fn every_form_as_typed() {
        assert_eq!(
            run("@item \"Red Potion\" 10"),
            Some(Effect::Items {
                items: vec!["Red Potion".into()],
                each: 10
            })
        );
        let several = run("@item 501:502 10").expect("two ids");
        assert_eq!(several.item_total(), 20);
        assert_eq!(
            run("@item Red_Potion"),
            Some(Effect::Items {
                items: vec!["Red_Potion".into()],
                each: 1
            })
        );
        assert_eq!(
            run("@item 607 -5").map(|e| e.item_total()),
            Some(1),
            "non-positive is 1"
        );
        let hash = parse("#item \"Char Name\" 607 10").expect("char command");
        assert_eq!(hash.target.as_deref(), Some("Char Name"));
        assert_eq!(effect(&hash, &creating()).map(|e| e.item_total()), Some(10));
        let word = parse("#item Bob 607 7").expect("char command");
        assert_eq!(word.target.as_deref(), Some("Bob"));
        assert_eq!(effect(&word, &creating()).map(|e| e.item_total()), Some(7));
        assert_eq!(run("@zeny -1000000"), Some(Effect::Zeny(-1_000_000)));
        assert_eq!(run("@ZENY 100000000"), Some(Effect::Zeny(100_000_000)));
        assert_eq!(run("#zeny \"Hero One\" 500"), Some(Effect::Zeny(500)));
        assert_eq!(run("@itembound 2220 1 1").map(|e| e.item_total()), Some(1));
        assert_eq!(
            run("@item2 1201 3 1 0 0 0 0 0 0").map(|e| e.item_total()),
            Some(3)
        );
        let more: Vec<String> = ["produce", "makeegg"].map(String::from).to_vec();
        let produce = parse("@produce 1201 3 2").expect("command");
        assert_eq!(
            effect(&produce, &more).map(|e| e.item_total()),
            Some(1),
            "3 is the element"
        );
        let egg = parse("@makeegg 1002").expect("command");
        assert_eq!(effect(&egg, &more).map(|e| e.item_total()), Some(1));
    }

    #[test]
    fn other_lines_are_not_creation() {
        assert_eq!(run("@warp prontera 150 150"), None);
        assert_eq!(run("@itemreset"), None);
        assert_eq!(run(""), None);
        assert_eq!(run("@"), None);
        assert_eq!(run("hello @item 1"), None, "not a command");
        assert_eq!(run("@item"), None, "no item");
        // An unclosed quote is read as one word, like sscanf's second try.
        assert_eq!(run("@item \"Red 3").map(|e| e.item_total()), Some(3));
    }
}
