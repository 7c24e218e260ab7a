//! Redis's error replies, word for word. They are part of its interface: clients match on
//! them, so they live here once and tests name them from here.
//!
//! Each constant is the reply text without the leading `-` and trailing CRLF.

use std::borrow::Cow;

pub const SYNTAX: &str = "ERR syntax error";
/// A command that may grow memory, refused while `used_memory` is over `maxmemory` and
/// nothing more can be evicted.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR index out of range";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const INVALID_DB_INDEX: &str = "ERR invalid DB index";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// What other clients get while a script runs past `busy-reply-threshold`.
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const NO_PROTO: &str = "NOPROTO unsupported protocol version";
/// DUMP and RESTORE (RESTORE-ASKING, FUNCTION RESTORE).
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
/// SAVE, BGSAVE, SHUTDOWN.
pub const GENERIC: &str = "ERR";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const SHUTDOWN_ERRORS: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

// Streams (`commands/streams.rs`).

pub const STREAM_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const STREAM_ID_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const STREAM_ID_TOO_SMALL: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const STREAM_EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";
pub const STREAM_ELEMENTS_TOO_LARGE: &str = "ERR Elements are too large to be stored";
pub const STREAM_MAXLEN_AND_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
pub const STREAM_MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
pub const STREAM_LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
pub const STREAM_LIMIT_WITHOUT_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub const STREAM_XTRIM_WITHOUT_STRATEGY: &str =
    "ERR syntax error, XTRIM must be called with a trimming strategy";
pub const STREAM_LIMIT_WITHOUT_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
pub const STREAM_INVALID_START: &str = "ERR invalid start ID for the interval";
pub const STREAM_INVALID_END: &str = "ERR invalid end ID for the interval";
pub const STREAM_GROUP_ONLY_XREADGROUP: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const STREAM_NOACK_ONLY_XREADGROUP: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
pub const STREAM_MISSING_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const STREAM_DOLLAR_IN_XREADGROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
pub const STREAM_GT_OUTSIDE_XREADGROUP: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
pub const STREAM_GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
pub const STREAM_KEY_GONE: &str = "UNBLOCKED the stream key no longer exists";
pub const STREAM_BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const STREAM_XGROUP_NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
pub const STREAM_ENTRIES_READ: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub const STREAM_XCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
pub const STREAM_XCLAIM_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
pub const STREAM_XCLAIM_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
pub const STREAM_XCLAIM_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
pub const STREAM_XAUTOCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
pub const STREAM_COUNT_POSITIVE: &str = "ERR COUNT must be > 0";
pub const STREAM_COUNT_TOO_HIGH: &str =
    "ERR Insufficient memory, failed allocating transient memory, COUNT too high.";
/// XREAD and XREADGROUP alike (Redis 7.0 names XREAD and `$` for both).
pub const STREAM_UNBALANCED: &str =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
pub const STREAM_ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
pub const STREAM_XSETID_BELOW_MAX_DELETED_ARG: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
pub const STREAM_XSETID_BELOW_TOP: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
pub const STREAM_XSETID_ENTRIES_ADDED: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";

/// `NOGROUP No such key '<key>' or consumer group '<group>'<suffix>` (XREADGROUP adds
/// ` in XREADGROUP with GROUP option`; XPENDING, XCLAIM and XAUTOCLAIM add nothing).
pub fn stream_no_key_or_group(key: &[u8], group: &[u8], suffix: &str) -> Vec<u8> {
    let mut msg = with_c_string(b"NOGROUP No such key '", key, b"' or consumer group '");
    msg.extend_from_slice(c_string(group));
    msg.push(b'\'');
    msg.extend_from_slice(suffix.as_bytes());
    msg
}

/// `NOGROUP No such consumer group '<group>' for key name '<key>'` (XGROUP, XINFO).
pub fn stream_no_group(group: &[u8], key: &[u8]) -> Vec<u8> {
    let mut msg = with_c_string(
        b"NOGROUP No such consumer group '",
        group,
        b"' for key name '",
    );
    msg.extend_from_slice(c_string(key));
    msg.push(b'\'');
    msg
}

/// `ERR <command> command is not allowed with BLOCK option from scripts`, with the
/// command name as it was sent.
pub fn stream_block_in_script(command: &[u8]) -> Vec<u8> {
    with_c_string(
        b"ERR ",
        command,
        b" command is not allowed with BLOCK option from scripts",
    )
}

/// `ERR Unrecognized XCLAIM option '<opt>'`.
pub fn stream_xclaim_option(opt: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unrecognized XCLAIM option '", opt, b"'")
}

/// `ERR invalid expire time in '<command>' command`.
pub fn invalid_expire_time(command: &str) -> String {
    format!("ERR invalid expire time in '{command}' command")
}

/// `ERR wrong number of arguments for '<command>' command`, with the command's full name
/// (`client|kill` for subcommands).
pub fn wrong_arity(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `, as Redis builds
/// it: each part cut at a NUL byte and the argument preview bounded to about 128 bytes.
pub fn unknown_command(argv: &[&[u8]]) -> Vec<u8> {
    let mut args: Vec<u8> = Vec::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let arg = c_string(arg);
        args.push(b'\'');
        args.extend_from_slice(&arg[..arg.len().min(room)]);
        args.extend_from_slice(b"' ");
    }
    let name = c_string(argv[0]);
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(&name[..name.len().min(128)]);
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&args);
    msg
}

/// `ERR unknown subcommand '<sub>'. Try <COMMAND> HELP.`
pub fn unknown_subcommand(command: &[u8], sub: &[u8]) -> Vec<u8> {
    try_help(b"ERR unknown subcommand '", command, sub)
}

/// `<before><sub>'. Try <COMMAND> HELP.`, with `sub` cut at a NUL and at 128 bytes as
/// Redis's `%.128s` prints it.
fn try_help(before: &[u8], command: &[u8], sub: &[u8]) -> Vec<u8> {
    let sub = c_string(sub);
    let mut msg = before.to_vec();
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(b"'. Try ");
    msg.extend_from_slice(&c_string(command).to_ascii_uppercase());
    msg.extend_from_slice(b" HELP.");
    msg
}

/// The part of `s` that C's `%s` prints: everything before the first NUL.
pub fn c_string(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// `<before><arg><after>`, `arg` as C's `%s` prints it: the message Redis formats from
/// `"<before>%s<after>"`.
fn with_c_string(before: &[u8], arg: &[u8], after: &[u8]) -> Vec<u8> {
    let mut msg = before.to_vec();
    msg.extend_from_slice(c_string(arg));
    msg.extend_from_slice(after);
    msg
}

// String commands (SETRANGE, DECRBY, LCS).
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_LONG: &str = "ERR String too long for LCS";
pub const LCS_TABLE_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const LCS_OUT_OF_MEMORY: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";

// Keyspace commands (`commands/keys.rs`).

pub const EXPIRE_NX_WITH_OTHERS: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
/// `getIntFromObjectOrReply` on a number that does not fit a C `int` (MOVE, COPY DB).
pub const NOT_INT32: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const INVALID_FIRST_DB_INDEX: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB_INDEX: &str = "ERR invalid second DB index";
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// `ERR Unsupported option <opt>` (EXPIRE and friends), the option cut at a NUL as C's
/// `%s` prints it.
pub fn unsupported_option(opt: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unsupported option ", opt, b"")
}

// Connection and CLIENT commands (`commands/connection.rs`, `commands/client.rs`).

pub const CLIENT_NAME_INVALID: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const PROTOCOL_VERSION_NOT_INTEGER: &str =
    "ERR Protocol version is not an integer or out of range";
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_ID_NOT_POSITIVE: &str = "ERR client-id should be greater than 0";
pub const INVALID_CLIENT_ID: &str = "ERR Invalid client ID";
pub const CLIENT_CACHING_WITHOUT_TRACKING: &str = "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled";
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
pub const UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
pub const PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";

/// `ERR Syntax error in HELLO option '<opt>'`.
pub fn hello_syntax(opt: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Syntax error in HELLO option '", opt, b"'")
}

/// `ERR Unknown client type '<type>'` (CLIENT LIST TYPE, CLIENT KILL TYPE).
pub fn unknown_client_type(kind: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unknown client type '", kind, b"'")
}

/// `ERR No such user '<name>'` (CLIENT KILL USER).
pub fn no_such_user(name: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR No such user '", name, b"'")
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`,
/// Redis's `addReplySubcommandSyntaxError`.
pub fn subcommand_syntax(command: &[u8], sub: &[u8]) -> Vec<u8> {
    try_help(
        b"ERR unknown subcommand or wrong number of arguments for '",
        command,
        sub,
    )
}

/// `ERR <attr> cannot contain spaces, newlines or special characters.` (CLIENT SETINFO).
pub fn client_attr_invalid(attr: &[u8]) -> Vec<u8> {
    with_c_string(
        b"ERR ",
        attr,
        b" cannot contain spaces, newlines or special characters.",
    )
}

/// `ERR Unrecognized option '<opt>'` (CLIENT SETINFO).
pub fn unrecognized_option(opt: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unrecognized option '", opt, b"'")
}

// Collection commands (`commands/lists.rs`, `hashes.rs`, `sets.rs`, `sorted_sets.rs`).

/// A count that must not be negative (LPOP, SPOP, ZPOPMIN ... with a count).
pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const HASH_VALUE_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_VALUE_NOT_FLOAT: &str = "ERR hash value is not a float";
/// SRANDMEMBER's count, which must fit `-LONG_MAX..=LONG_MAX`.
pub const SRANDMEMBER_COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const ZADD_XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_PAIRS: &str = "ERR INCR option supports a single increment-element pair";
pub const ZADD_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MIN_MAX_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const ZRANGE_LIMIT_WITH_RANK: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZRANGE_WITHSCORES_WITH_LEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
/// HINCRBYFLOAT's increment itself is infinite.
pub const NAN_OR_INFINITY_VALUE: &str = "ERR value is NaN or Infinity";
/// The numkeys of LMPOP, ZMPOP, SINTERCARD, ZUNION and friends.
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
/// A numkeys past the arguments (SINTERCARD, EVAL, FCALL).
pub const NUMKEYS_PAST_ARGS: &str = "ERR Number of keys can't be greater than number of args";
/// A negative numkeys (EVAL, FCALL).
pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
/// The COUNT of LMPOP and ZMPOP.
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
/// The LIMIT of SINTERCARD and ZINTERCARD.
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
/// HRANDFIELD's and ZRANDMEMBER's count with WITHVALUES/WITHSCORES past half the range of
/// a long.
pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";

// Bitmap, HyperLogLog and SORT commands (`commands/bitmaps.rs`, `hyperloglog.rs`,
// `sort.rs`).

pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
pub const HLL_NO_SUCH_KEY: &str = "ERR The specified key does not exist";
pub const HLL_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// `ERR Unknown PFDEBUG subcommand '<sub>'`.
pub fn pfdebug_unknown(sub: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unknown PFDEBUG subcommand '", sub, b"'")
}

/// `ERR Wrong number of arguments for the '<sub>' subcommand` (PFDEBUG).
pub fn pfdebug_arity(sub: &[u8]) -> Vec<u8> {
    with_c_string(
        b"ERR Wrong number of arguments for the '",
        sub,
        b"' subcommand",
    )
}

// Transactions (`commands/transactions.rs`).

pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";

// Scripts and functions (`scripting/`, `commands/scripting.rs`, `commands/functions.rs`).

/// EVALSHA's answer for a SHA1 that is not cached.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
/// What SCRIPT KILL makes a running script fail with.
pub const SCRIPT_KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
/// FCALL's numkeys that is not a number.
pub const BAD_NUMKEYS: &str = "ERR Bad number of keys provided";
/// What a library whose code runs past its load time limit fails with (a Lua error that
/// FUNCTION LOAD reports inside its own message).
pub const FUNCTION_LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";
/// A library name that is not `[A-Za-z0-9_]+` (a Lua error, or part of FUNCTION LOAD's).
pub const LIBRARY_NAME_INVALID: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

// Server commands (`commands/server/`, `commands/diagnostics.rs`).

pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const SLOWLOG_COUNT_TOO_LOW: &str = "ERR count should be greater than or equal to -1";

/// A command's error reply: its text without the leading `-` (`ERR syntax error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandError(pub Cow<'static, [u8]>);

impl CommandError {
    pub fn text(&self) -> &[u8] {
        &self.0
    }
}

impl From<&'static str> for CommandError {
    fn from(text: &'static str) -> Self {
        CommandError(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<String> for CommandError {
    fn from(text: String) -> Self {
        CommandError(Cow::Owned(text.into_bytes()))
    }
}

impl From<Vec<u8>> for CommandError {
    fn from(text: Vec<u8>) -> Self {
        CommandError(Cow::Owned(text))
    }
}

// Cluster mode (`cluster/`, `commands/cluster.rs`).

/// Every cluster command on a server not started as a cluster node.
pub const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";
/// CLUSTER COUNTKEYSINSLOT's slot outside 0..16384.
pub const INVALID_SLOT: &str = "ERR Invalid slot";
/// CLUSTER GETKEYSINSLOT's slot outside 0..16384 or negative count.
pub const INVALID_SLOT_OR_COUNT: &str = "ERR Invalid slot or number of keys";
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const CLUSTERDOWN: &str = "CLUSTERDOWN The cluster is down";
pub const CLUSTERDOWN_READ_ONLY: &str =
    "CLUSTERDOWN The cluster is down and only accepts read commands";
pub const CLUSTERDOWN_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
pub const SELECT_IN_CLUSTER: &str = "ERR SELECT is not allowed in cluster mode";
pub const SWAPDB_IN_CLUSTER: &str = "ERR SWAPDB is not allowed in cluster mode";
pub const MOVE_IN_CLUSTER: &str = "ERR MOVE is not allowed in cluster mode";
pub const COPY_DB_IN_CLUSTER: &str =
    "ERR Copying to another database is not allowed in cluster mode";
pub const NO_CLUSTER_SCRIPT: &str = "ERR Can not run script on cluster, 'no-cluster' flag is set.";

/// `ERR Unknown node <id>`, for a node id argument the cluster does not know.
pub fn unknown_node(id: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Unknown node ", id, b"")
}

/// A slot argument of ADDSLOTS, DELSLOTS, SETSLOT, ...: not an integer in 0..16384.
pub const INVALID_OR_OUT_OF_RANGE_SLOT: &str = "ERR Invalid or out of range slot";
pub const SETSLOT_SYNTAX: &str =
    "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP";
pub const SETSLOT_ON_REPLICA: &str = "ERR Please use SETSLOT only with masters.";
pub const TARGET_NOT_MASTER: &str = "ERR Target node is not a master";
pub const NOT_A_MASTER: &str = "ERR The specified node is not a master";
pub const FLUSHSLOTS_NOT_EMPTY: &str = "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.";
pub const RESET_WITH_KEYS: &str =
    "ERR CLUSTER RESET can't be called with master nodes containing keys";
pub const FORGET_MYSELF: &str = "ERR I tried hard but I can't forget myself...";
pub const FORGET_MY_MASTER: &str = "ERR Can't forget my master!";
pub const CONFIG_EPOCH_WITH_OTHERS: &str =
    "ERR The user can assign a config epoch only when the node does not know any other node.";
pub const CONFIG_EPOCH_NOT_ZERO: &str = "ERR Node config epoch is already non-zero";

// MIGRATE (`commands/migrate.rs`).
pub const MIGRATE_KEYS_WITH_KEY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
pub const MIGRATE_IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
pub const MIGRATE_IOERR_WRITING: &str = "IOERR error or timeout writing to target instance";
pub const MIGRATE_IOERR_READING: &str = "IOERR error or timeout reading to target instance";

/// `ERR I don't know about node <id>` (SETSLOT MIGRATING / IMPORTING).
pub fn dont_know_node(id: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR I don't know about node ", id, b"")
}

/// `ERR Invalid TCP base port specified: <arg>` (CLUSTER MEET).
pub fn invalid_base_port(arg: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Invalid TCP base port specified: ", arg, b"")
}

/// `ERR Invalid TCP bus port specified: <arg>` (CLUSTER MEET).
pub fn invalid_bus_port(arg: &[u8]) -> Vec<u8> {
    with_c_string(b"ERR Invalid TCP bus port specified: ", arg, b"")
}

/// `ERR Invalid node address specified: <ip>:<port>` (CLUSTER MEET).
pub fn invalid_node_address(ip: &[u8], port: &[u8]) -> Vec<u8> {
    let mut msg = with_c_string(b"ERR Invalid node address specified: ", ip, b":");
    msg.extend_from_slice(c_string(port));
    msg
}

// Geo commands (`commands/geo.rs`), as `geo.c` words them.

pub const GEO_UNSUPPORTED_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_NEED_NUMERIC_RADIUS: &str = "ERR need numeric radius";
pub const GEO_NEED_NUMERIC_WIDTH: &str = "ERR need numeric width";
pub const GEO_NEED_NUMERIC_HEIGHT: &str = "ERR need numeric height";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_MEMBER_NOT_FOUND: &str = "ERR could not decode requested zset member";
pub const GEO_COUNT_NOT_POSITIVE: &str = "ERR COUNT must be > 0";
pub const GEO_ANY_WITHOUT_COUNT: &str = "ERR the ANY argument requires COUNT argument";

/// `ERR invalid longitude,latitude pair <lon>,<lat>`, both printed `%f`.
pub fn geo_invalid_pair(lon: f64, lat: f64) -> String {
    format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")
}

/// STORE or STOREDIST (GEORADIUS) or GEOSEARCHSTORE asked for WITHDIST, WITHHASH or
/// WITHCOORD.
pub fn geo_store_with_options(geosearchstore: bool) -> String {
    let what = if geosearchstore {
        "GEOSEARCHSTORE"
    } else {
        "STORE option in GEORADIUS"
    };
    format!("ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
}

/// GEOSEARCH or GEOSEARCHSTORE without FROMMEMBER or FROMLONLAT, naming the command as the
/// client spelled it.
pub fn geo_exactly_one_from(command: &[u8]) -> Vec<u8> {
    with_c_string(
        b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ",
        command,
        b"",
    )
}

/// GEOSEARCH or GEOSEARCHSTORE without BYRADIUS or BYBOX.
pub fn geo_exactly_one_by(command: &[u8]) -> Vec<u8> {
    with_c_string(
        b"ERR exactly one of BYRADIUS and BYBOX can be specified for ",
        command,
        b"",
    )
}
