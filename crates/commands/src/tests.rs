//! The table's lookups and the arithmetic Redis defines on key specs, on real commands.

use super::*;

fn argv<'a>(args: &[&'a str]) -> Vec<&'a [u8]> {
    args.iter().map(|a| a.as_bytes()).collect()
}

fn cmd(full_name: &str) -> &'static Command {
    lookup_full(full_name).unwrap_or_else(|| panic!("{full_name} is in the table"))
}

fn keys(full_name: &str, args: &[&str]) -> Option<Vec<usize>> {
    cmd(full_name).key_positions(&argv(args))
}

#[test]
fn commands_are_sorted_by_name_and_so_are_subcommands() {
    let sorted = |table: &[Command]| table.windows(2).all(|w| w[0].name < w[1].name);
    assert!(sorted(COMMANDS));
    for c in COMMANDS {
        assert!(sorted(c.subcommands), "{}", c.name);
    }
}

#[test]
fn lookup_ignores_letter_case() {
    assert_eq!(lookup(b"get").map(|c| c.full_name), Some("get"));
    assert_eq!(lookup(b"GeT").map(|c| c.full_name), Some("get"));
    assert_eq!(lookup(b"RESTORE-ASKING").map(|c| c.arity), Some(-4));
}

#[test]
fn lookup_misses_unknown_and_empty_names() {
    assert!(lookup(b"nosuchcommand").is_none());
    assert!(lookup(b"").is_none());
    assert!(lookup(b"client|kill").is_none());
}

#[test]
fn subcommand_is_found_under_its_container_in_any_case() {
    let client = lookup(b"client").unwrap();
    assert_eq!(
        client.subcommand(b"KILL").map(|c| c.full_name),
        Some("client|kill")
    );
    assert!(client.subcommand(b"nosuch").is_none());
    assert!(lookup(b"get").unwrap().subcommand(b"kill").is_none());
}

#[test]
fn lookup_full_finds_commands_and_subcommands() {
    assert_eq!(lookup_full("get").map(|c| c.name), Some("get"));
    assert_eq!(lookup_full("CONFIG|GET").map(|c| c.name), Some("get"));
    assert!(lookup_full("config|nosuch").is_none());
    assert!(lookup_full("nosuch|get").is_none());
}

#[test]
fn client_setinfo_comes_from_the_supplement() {
    let setinfo = cmd("client|setinfo");
    assert_eq!(setinfo.arity, 4);
    assert_eq!(setinfo.since, "7.2.0");
    assert_eq!(setinfo.acl, &["slow", "connection"]);
    assert_eq!(setinfo.args[0].kind, ArgType::Oneof);
    assert_eq!(setinfo.args[0].args[0].token, Some("LIB-NAME"));
    assert_eq!(setinfo.args[0].args[1].token, Some("LIB-VER"));
}

#[test]
fn flags_and_arity_read_as_redis_states_them() {
    let get = cmd("get");
    assert!(get.has(flags::READONLY) && get.has(flags::FAST) && !get.is_write());
    assert!(cmd("set").is_write());
    assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
    let mset = cmd("mset");
    assert!(!mset.arity_ok(2) && mset.arity_ok(3) && mset.arity_ok(5));
}

#[test]
fn migrate_keeps_its_empty_token() {
    let key_or_empty = &cmd("migrate").args[2];
    assert_eq!(key_or_empty.args[0].token, None);
    assert_eq!(key_or_empty.args[1].token, Some(""));
}

#[test]
fn legacy_range_of_a_single_key_command() {
    assert_eq!(cmd("get").legacy_range(), (1, 1, 1));
    assert_eq!(cmd("object|encoding").legacy_range(), (2, 2, 1));
}

#[test]
fn legacy_range_of_mset_keeps_its_step_of_two() {
    assert_eq!(cmd("mset").legacy_range(), (1, -1, 2));
}

#[test]
fn legacy_range_glues_index_ranges_and_ignores_keynum_specs() {
    // The destination is an index/range spec; the sources a keynum spec.
    assert_eq!(cmd("zunionstore").legacy_range(), (1, 1, 1));
    assert_eq!(cmd("lmove").legacy_range(), (1, 2, 1));
}

#[test]
fn legacy_range_is_empty_without_index_range_specs() {
    assert_eq!(cmd("eval").legacy_range(), (0, 0, 0));
    assert_eq!(cmd("xread").legacy_range(), (0, 0, 0));
    assert_eq!(cmd("ping").legacy_range(), (0, 0, 0));
}

#[test]
fn legacy_range_ignores_unknown_and_keyword_specs() {
    assert_eq!(cmd("sort").legacy_range(), (1, 1, 1));
    assert_eq!(cmd("migrate").legacy_range(), (3, 3, 1));
}

#[test]
fn key_positions_by_index_range() {
    assert_eq!(keys("get", &["GET", "k"]), Some(vec![1]));
    assert_eq!(
        keys("mset", &["MSET", "a", "1", "b", "2"]),
        Some(vec![1, 3])
    );
    assert_eq!(
        keys("object|encoding", &["OBJECT", "ENCODING", "k"]),
        Some(vec![2])
    );
}

#[test]
fn shard_channels_route_but_are_not_keys() {
    let publish = argv(&["SPUBLISH", "news", "hello"]);
    assert_eq!(cmd("spublish").key_positions(&publish), Some(vec![]));
    assert_eq!(cmd("spublish").route_positions(&publish), Some(vec![1]));
    let subscribe = argv(&["SSUBSCRIBE", "a", "b"]);
    assert_eq!(
        cmd("ssubscribe").route_positions(&subscribe),
        Some(vec![1, 2])
    );
    assert_eq!(
        cmd("get").route_positions(&argv(&["GET", "k"])),
        Some(vec![1])
    );
}

#[test]
fn key_positions_by_key_count() {
    assert_eq!(
        keys(
            "zunionstore",
            &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
        ),
        Some(vec![1, 3, 4])
    );
    assert_eq!(
        keys("eval", &["EVAL", "return 1", "2", "a", "b", "x"]),
        Some(vec![3, 4])
    );
    assert_eq!(keys("eval", &["EVAL", "return 1", "0"]), Some(vec![]));
}

#[test]
fn key_positions_fail_on_a_bad_key_count() {
    assert_eq!(keys("eval", &["EVAL", "s", "3", "a", "b"]), None);
    assert_eq!(keys("eval", &["EVAL", "s", "-1"]), None);
    assert_eq!(keys("eval", &["EVAL", "s", "01", "a"]), None);
    assert_eq!(keys("eval", &["EVAL", "s", "x"]), None);
}

#[test]
fn key_positions_after_a_keyword_split_the_rest_by_limit() {
    assert_eq!(
        keys(
            "xread",
            &["XREAD", "COUNT", "1", "streams", "a", "b", "0", "0"]
        ),
        Some(vec![4, 5])
    );
}

#[test]
fn key_positions_skip_a_spec_whose_keyword_is_absent() {
    assert_eq!(
        keys("georadius", &["GEORADIUS", "g", "0", "0", "1", "km"]),
        Some(vec![1])
    );
    assert_eq!(
        keys(
            "georadius",
            &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d"]
        ),
        Some(vec![1, 7])
    );
}

#[test]
fn key_positions_are_unknown_for_unknown_or_incomplete_specs() {
    assert_eq!(keys("sort", &["SORT", "k"]), None);
    assert_eq!(
        keys(
            "migrate",
            &["MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"]
        ),
        None
    );
}

#[test]
fn key_positions_fail_past_the_end() {
    assert_eq!(keys("get", &["GET"]), None);
}

#[test]
fn key_positions_of_a_keyless_command_are_empty() {
    assert_eq!(keys("ping", &["PING"]), Some(vec![]));
}

#[test]
fn key_positions_skip_not_key_specs() {
    let not_keys = COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands))
        .filter(|c| {
            c.key_specs
                .iter()
                .any(|s| s.flags & key_flags::NOT_KEY != 0)
        });
    for c in not_keys {
        // Such commands (PUBLISH-like channel specs) name no keys in their not_key specs.
        let only_not_keys = c
            .key_specs
            .iter()
            .all(|s| s.flags & key_flags::NOT_KEY != 0);
        if only_not_keys {
            let args: Vec<&[u8]> = vec![b"x"; c.arity.unsigned_abs() as usize + 2];
            assert_eq!(c.key_positions(&args), Some(vec![]), "{}", c.full_name);
        }
    }
}

#[test]
fn every_name_is_lower_case_and_full_names_match_the_nesting() {
    for c in COMMANDS {
        assert_eq!(c.name, c.full_name);
        assert_eq!(c.name, c.name.to_ascii_lowercase());
        for s in c.subcommands {
            assert_eq!(s.full_name, format!("{}|{}", c.name, s.name));
            assert!(s.subcommands.is_empty());
        }
    }
}

#[test]
fn crc16_is_xmodem() {
    assert_eq!(slot::crc16(b"123456789"), 0x31c3);
    assert_eq!(slot::crc16(b""), 0);
}

#[test]
fn key_slots_are_redis_cluster_s() {
    // Slots redis-cli reports for these keys in Redis's cluster tutorial.
    assert_eq!(key_slot(b"foo"), 12182);
    assert_eq!(key_slot(b"hello"), 866);
    assert_eq!(key_slot(b"bar"), 5061);
}

#[test]
fn hash_tags_follow_redis_s_rules() {
    assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
    // An empty tag, or none closed, hashes the whole key.
    assert_eq!(slot::hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
    assert_eq!(slot::hash_tag(b"foo{bar"), b"foo{bar");
    // The first `{` and the first `}` after it.
    assert_eq!(slot::hash_tag(b"foo{{bar}}zap"), b"{bar");
    assert_eq!(slot::hash_tag(b"foo{bar}{zap}"), b"bar");
    assert!(key_slot(b"anything at all") < slot::SLOTS);
}
