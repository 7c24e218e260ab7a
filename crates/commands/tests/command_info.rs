//! The table against what redis-server's COMMAND INFO reported for every command and
//! subcommand (tests/data/command_info.rs, written by scripts/gen-commands): the derived
//! legacy key range, and the flags rendered in `flags::NAMES` order.

use lockstep_commands::{flags, lookup_full};

mod data {
    include!("data/command_info.rs");
}

#[test]
fn derived_legacy_range_equals_command_info_for_every_command() {
    let mut wrong = Vec::new();
    for &(name, _, first, last, step) in data::REPORTED {
        let cmd = lookup_full(name).unwrap_or_else(|| panic!("{name} is in the table"));
        if cmd.legacy_range() != (first, last, step) {
            wrong.push(format!(
                "{name}: derived {:?}, reported {:?}",
                cmd.legacy_range(),
                (first, last, step)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn flags_in_names_order_equal_command_info_for_every_command() {
    for &(name, reported, ..) in data::REPORTED {
        let cmd = lookup_full(name).unwrap_or_else(|| panic!("{name} is in the table"));
        let rendered: Vec<&str> = flags::NAMES
            .iter()
            .filter(|(bit, _)| cmd.has(*bit))
            .map(|(_, name)| *name)
            .collect();
        assert_eq!(rendered, reported, "{name}");
    }
}

#[test]
fn every_command_of_the_table_was_reported() {
    let reported = data::REPORTED.len();
    let table: usize = lockstep_commands::COMMANDS
        .iter()
        .map(|c| 1 + c.subcommands.len())
        .sum();
    assert_eq!(table, reported);
}
