//! What rAthena's `picklog` and `zenylog` rows mean, and which of them are
//! items or zeny entering the world.
//!
//! Facts from rAthena's source (log.cpp `log_picktype2char`, log.hpp
//! `e_log_pick_type`, sql-files/logs.sql):
//!
//! - Every item move is logged on both sides, one row each: the side that
//!   gives writes `-n`, the side that takes writes `+n` (pc.cpp
//!   `pc_additem`/`pc_delitem`). A trade (`T`) is two rows, a storage
//!   deposit (`R`) is `-n` on the character and a withdrawal `+n`.
//! - A monster's drop (`M`), a steal (`D`) and an MVP prize (`U`) are logged
//!   from the monster's side (mob.cpp `log_pick_mob`): `char_id` is the
//!   monster's id and the amount is negative. The player who then holds the
//!   item writes a `P` row (+n) like any pick-up (party.cpp, pc.cpp
//!   `pc_steal_item`), so counting `P` would count player drops too and
//!   monster drops twice.
//! - zenylog amounts are signed the same way (pc.cpp `pc_payzeny` writes
//!   `-zeny`, `pc_getzeny` `+zeny`); `char_id` is whose purse changed and
//!   `src_id` the other party.

/// Every picklog `type` letter rAthena writes (the `ENUM` of logs.sql), with
/// what it stands for.
pub const PICK_TYPES: [(char, &str); 30] = [
    ('M', "monster drop (monster side)"),
    ('P', "player drop or pick-up"),
    ('L', "monster loot picked up or dropped"),
    ('T', "trade"),
    ('V', "vending"),
    ('S', "NPC shop"),
    ('N', "NPC script"),
    ('C', "consumed"),
    ('A', "GM command"),
    ('R', "storage"),
    ('G', "guild storage"),
    ('E', "mail attachment"),
    ('B', "buying store"),
    ('O', "produced item or ingredient"),
    ('I', "auction"),
    ('X', "other"),
    ('D', "stolen from a monster (monster side)"),
    ('U', "MVP prize (monster side)"),
    ('$', "cash shop"),
    ('F', "guild or party bound item removed"),
    ('Y', "roulette"),
    ('Z', "merged items"),
    ('Q', "quest"),
    ('H', "private airship"),
    ('J', "barter shop"),
    ('W', "Laphine UI"),
    ('0', "enchant grade UI"),
    ('1', "reform UI"),
    ('2', "enchant UI"),
    ('3', "item package selection"),
];

/// Every zenylog `type` letter rAthena writes (logs.sql).
pub const ZENY_TYPES: [(char, &str); 17] = [
    ('T', "trade"),
    ('V', "vending"),
    ('P', "player (death penalty)"),
    ('M', "monster"),
    ('S', "NPC shop"),
    ('N', "NPC script"),
    ('D', "stolen from a monster"),
    ('C', "consumed item"),
    ('A', "GM command"),
    ('E', "mail"),
    ('I', "auction"),
    ('B', "buying store"),
    ('K', "bank"),
    ('J', "barter shop"),
    ('X', "other"),
    ('0', "enchant grade UI"),
    ('2', "enchant UI"),
];

/// picklog types logged from the monster's side, counted by `-amount` of
/// their negative rows: monster drops, steals, MVP prizes.
pub const MONSTER_ITEM_TYPES: &str = "M,D,U";

/// picklog types whose positive rows are items made from nothing on the
/// character's side: GM command (`@item`), NPC shop purchase, NPC script
/// (`getitem`), produced items, cash shop, quest rewards, barter, roulette,
/// item packages. The moves (T, V, R, G, E, I, B, K...) and transformations
/// (W, 0, 1, 2, Z) are left out; so is `P`, the pick-up of something that
/// already existed.
pub const CREATED_ITEM_TYPES: &str = "A,S,N,O,$,Q,J,Y,3";

/// zenylog types whose positive rows are zeny made from nothing: monsters,
/// steals, selling to an NPC shop, NPC scripts, GM commands. Trades,
/// vending, mail, auctions, buying stores and the bank only move zeny.
pub const CREATED_ZENY_TYPES: &str = "M,D,S,N,A";

/// A config list of type letters, each checked against `alphabet`.
pub fn type_letters(key: &str, text: &str, alphabet: &[(char, &str)]) -> Result<Vec<char>, String> {
    let mut letters = Vec::new();
    for item in crate::list(text) {
        let mut chars = item.chars();
        match (chars.next(), chars.next()) {
            (Some(letter), None) if alphabet.iter().any(|(l, _)| *l == letter) => {
                if !letters.contains(&letter) {
                    letters.push(letter);
                }
            }
            _ => {
                let known: String = alphabet.iter().map(|(l, _)| *l).collect();
                return Err(format!(
                    "config `{key}`: {item:?} is not one of rAthena's type letters ({known})"
                ));
            }
        }
    }
    Ok(letters)
}

/// Which picklog rows count as items entering the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRules {
    pub monster: Vec<char>,
    pub created: Vec<char>,
}

impl Default for ItemRules {
    fn default() -> Self {
        Self {
            monster: MONSTER_ITEM_TYPES.chars().filter(|c| *c != ',').collect(),
            created: CREATED_ITEM_TYPES.chars().filter(|c| *c != ',').collect(),
        }
    }
}

impl ItemRules {
    /// From the two config lists; a letter in both would be counted twice.
    pub fn new(monster: &str, created: &str) -> Result<Self, String> {
        let monster = type_letters("monster_item_types", monster, &PICK_TYPES)?;
        let created = type_letters("created_item_types", created, &PICK_TYPES)?;
        if let Some(both) = monster.iter().find(|l| created.contains(l)) {
            return Err(format!(
                "config: picklog type {both:?} is in both `monster_item_types` and `created_item_types`"
            ));
        }
        Ok(Self { monster, created })
    }

    /// Items that entered the world through rows of `kind` whose negative
    /// amounts sum to `-given` and positive ones to `taken`.
    pub fn entered(&self, kind: char, given: i64, taken: i64) -> i64 {
        if self.monster.contains(&kind) {
            given
        } else if self.created.contains(&kind) {
            taken
        } else {
            0
        }
    }
}

/// The statement that sums a picklog or zenylog id range per type:
/// `type`, the magnitude of its negative amounts, the sum of its positive
/// ones, and the row count. Parameters: the range `(after, up_to]`.
pub fn per_type_sums(table: &str) -> String {
    format!(
        "SELECT `type`, COALESCE(SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END), 0), COUNT(*) \
         FROM `{table}` WHERE id > ? AND id <= ? GROUP BY `type`"
    )
}

/// One type's sums from [`per_type_sums`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub kind: char,
    /// Magnitude of the negative amounts (what left a purse or inventory).
    pub given: i64,
    /// Sum of the positive amounts (what entered one).
    pub taken: i64,
    pub rows: i64,
}

impl Sums {
    /// Zeny volume: every amount, both sides.
    pub fn volume(&self) -> i64 {
        self.given + self.taken
    }

    /// Net change of the purses: positive when more entered than left.
    pub fn net(&self) -> i64 {
        self.taken - self.given
    }
}

/// Reads [`per_type_sums`] rows; rows with an unreadable type are skipped.
pub fn read_sums(rows: &[Vec<p2pmon_plugin_sdk::sql::Value>]) -> Vec<Sums> {
    rows.iter()
        .filter_map(|row| {
            let kind = row.first()?.to_text()?.chars().next()?;
            Some(Sums {
                kind,
                given: row.get(1)?.as_i64().unwrap_or(0),
                taken: row.get(2)?.as_i64().unwrap_or(0),
                rows: row.get(3)?.as_i64().unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabets_are_rathenas() {
        let picks: String = PICK_TYPES.iter().map(|(l, _)| *l).collect();
        // The ENUM of sql-files/logs.sql, in its order.
        assert_eq!(picks, "MPLTVSNCARGEBOIXDU$FYZQHJW0123");
        let zeny: String = ZENY_TYPES.iter().map(|(l, _)| *l).collect();
        assert_eq!(zeny, "TVPMSNDCAEIBKJX02");
    }

    #[test]
    fn monster_side_rows_count_once_and_moves_never() {
        let rules = ItemRules::default();
        // A drop of 4: `M -4` (monster side) and the pick-up `P +4`.
        assert_eq!(rules.entered('M', 4, 0) + rules.entered('P', 0, 4), 4);
        assert_eq!(rules.entered('D', 1, 0), 1, "a steal");
        assert_eq!(rules.entered('U', 1, 0), 1, "an MVP prize");
        // `@item 607 10` on the GM (or its target): `A +10`.
        assert_eq!(rules.entered('A', 0, 10), 10);
        // Storage and trades move items: both sides, nothing created.
        for kind in ['R', 'G', 'T', 'V', 'E', 'B', 'I', 'K', 'L', 'C'] {
            assert_eq!(rules.entered(kind, 7, 7), 0, "{kind}");
        }
        // A shop sale (`S -1`) destroys, a purchase (`S +1`) creates.
        assert_eq!(rules.entered('S', 1, 0), 0);
        assert_eq!(rules.entered('S', 0, 1), 1);
    }

    #[test]
    fn type_lists_from_config_are_checked() {
        assert_eq!(
            type_letters("k", " M, D ,U,M", &PICK_TYPES),
            Ok(vec!['M', 'D', 'U'])
        );
        assert_eq!(type_letters("k", "$,3", &PICK_TYPES), Ok(vec!['$', '3']));
        let error = type_letters("k", "M,Monster", &PICK_TYPES).expect_err("a word");
        assert!(error.contains("\"Monster\""), "{error}");
        assert!(
            type_letters("k", "W", &ZENY_TYPES).is_err(),
            "W is picklog only"
        );
        let both = ItemRules::new("M,D,U", "A,M").expect_err("M twice");
        assert!(both.contains("'M'"), "{both}");
        assert_eq!(
            ItemRules::new(MONSTER_ITEM_TYPES, CREATED_ITEM_TYPES),
            Ok(ItemRules::default())
        );
    }

    #[test]
    fn zeny_volume_and_net() {
        // A trade of 5,000: -5,000 on one side, +5,000 on the other.
        let trade = Sums {
            kind: 'T',
            given: 5000,
            taken: 5000,
            rows: 2,
        };
        assert_eq!((trade.volume(), trade.net()), (10_000, 0));
        let shop = Sums {
            kind: 'S',
            given: 300,
            taken: 0,
            rows: 1,
        };
        assert_eq!((shop.volume(), shop.net()), (300, -300));
    }
}
