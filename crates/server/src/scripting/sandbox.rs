//! The Lua state scripts run in, as Redis 7.0.15 makes it: the base, table, string and
//! math libraries (no `os`, `io`, `package`, `debug`; no `print`, `dofile`, `loadfile`,
//! `getfenv`, `setfenv`, `newproxy`), Redis's `pcall` and `math.random`, the `redis`,
//! `bit`, `cjson`, `struct` and `cmsgpack` libraries, and read-only globals.
//!
//! Redis marks its tables read-only inside its patched Lua; stock Lua cannot, so the
//! globals live in a hidden table behind an empty `_G` whose metatable reads through and
//! refuses writes, and each library is an empty proxy of the same kind. Reading a global
//! that does not exist fails with Redis's message.

use mlua::{ffi, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use super::{convert, raw, redis_call, with_run};
use crate::reply::Protocol;

/// A new Lua state and the table that really holds its globals.
pub fn new_state(rand48: u64) -> mlua::Result<(Lua, Table)> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    lua.set_named_registry_value(raw::RAND48_KEY, rand48 as f64)?;
    let g = lua.globals();
    for name in [
        "print", "dofile", "loadfile", "getfenv", "setfenv", "newproxy", "module", "require",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    // SAFETY: these C functions follow the Lua C API's rules (see `raw`).
    unsafe {
        g.raw_set("pcall", lua.create_c_function(raw::pcall)?)?;
        g.raw_set("rawset", lua.create_c_function(raw::checked_rawset)?)?;
        g.raw_set("rawget", lua.create_c_function(raw::proxy_rawget)?)?;
        g.raw_set("next", lua.create_c_function(raw::proxy_next)?)?;
        g.raw_set("pairs", lua.create_c_function(raw::proxy_pairs)?)?;
        g.raw_set(
            "setmetatable",
            lua.create_c_function(raw::checked_setmetatable)?,
        )?;
        let math: Table = g.raw_get("math")?;
        math.raw_set("random", lua.create_c_function(raw::math_random)?)?;
        math.raw_set("randomseed", lua.create_c_function(raw::math_randomseed)?)?;
    }
    g.raw_set("redis", redis_library(&lua)?)?;
    g.raw_set("bit", super::bit::library(&lua)?)?;
    g.raw_set("cjson", super::cjson::library(&lua)?)?;
    g.raw_set("struct", super::structlib::library(&lua)?)?;
    g.raw_set("cmsgpack", super::cmsgpack::library(&lua)?)?;

    let hidden = lua.create_table()?;
    let names: Vec<(Value, Value)> = g.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
    for (name, value) in names {
        g.raw_set(name.clone(), Value::Nil)?;
        let value = match (&name, value) {
            (Value::String(s), Value::Table(t))
                if matches!(
                    s.as_bytes().as_ref(),
                    b"string"
                        | b"table"
                        | b"math"
                        | b"coroutine"
                        | b"redis"
                        | b"bit"
                        | b"cjson"
                        | b"struct"
                        | b"cmsgpack"
                ) =>
            {
                Value::Table(read_only(&lua, t)?)
            }
            (_, value) => value,
        };
        hidden.raw_set(name, value)?;
    }
    hidden.raw_set("_G", g.clone())?;
    // Strings index the `string` scripts see (`getmetatable('').__index == string`).
    let string: Table = hidden.raw_get("string")?;
    // SAFETY: only stack operations on the string metatable, which exists.
    unsafe {
        lua.exec_raw::<()>(string, |l| {
            ffi::lua_pushstring(l, c"".as_ptr());
            if ffi::lua_getmetatable(l, -1) != 0 {
                ffi::lua_pushvalue(l, 1);
                ffi::lua_setfield(l, -2, c"__index".as_ptr());
            }
            ffi::lua_settop(l, 0);
        })?;
    }
    hidden.set_metatable(Some(missing_meta(&lua)?));
    let meta = read_only_meta(&lua, Value::Table(hidden.clone()))?;
    g.set_metatable(Some(meta));
    Ok((lua, hidden))
}

/// An empty table that reads `real` and refuses every write.
fn read_only(lua: &Lua, real: Table) -> mlua::Result<Table> {
    let proxy = lua.create_table()?;
    proxy.set_metatable(Some(read_only_meta(lua, Value::Table(real))?));
    Ok(proxy)
}

fn read_only_meta(lua: &Lua, index: Value) -> mlua::Result<Table> {
    let meta = lua.create_table()?;
    meta.raw_set("__index", index)?;
    // SAFETY: see `raw`.
    meta.raw_set("__newindex", unsafe {
        lua.create_c_function(raw::readonly_newindex)?
    })?;
    meta.raw_set(
        raw::READONLY_MARK.to_str().unwrap_or("__lockstep_readonly"),
        true,
    )?;
    Ok(meta)
}

/// A Lua function running `f` behind `raw::trampoline`, which raises or returns what `f`
/// answers from a C frame of its own.
pub(super) fn via_trampoline<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<(Value, i64)> + Send + 'static,
{
    closure(lua, f, raw::trampoline)
}

fn closure<F>(lua: &Lua, f: F, c: ffi::lua_CFunction) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<(Value, i64)> + Send + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| f(lua, args))?;
    // SAFETY: pushes a C closure over the one argument exec_raw pushed.
    unsafe {
        lua.exec_raw::<Function>(inner, |l| {
            ffi::lua_pushcclosure(l, c, 1);
        })
    }
}

/// `(error table, RAISE)`: Redis's `luaPushError` then `luaError`.
fn raise(lua: &Lua, msg: &str) -> mlua::Result<(Value, i64)> {
    Ok((
        convert::error_table(lua, msg.as_bytes(), false)?,
        raw::mode::RAISE,
    ))
}

fn nothing() -> mlua::Result<(Value, i64)> {
    Ok((Value::Nil, raw::mode::NOTHING))
}

fn ret(v: Value) -> mlua::Result<(Value, i64)> {
    Ok((v, raw::mode::RETURN))
}

/// Lua's `lua_isnumber`: a number or a string that converts to one.
fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let text = s.to_str().ok()?;
            let text = text.trim();
            if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
            }
            text.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// Lua's `lua_tolstring` for strings and numbers.
pub(super) fn to_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(convert::lua_number_text(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.log`, its levels and `redis.REDIS_VERSION(_NUM)`: what scripts and libraries
/// being loaded both have.
fn add_log_and_version(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.raw_set(
        "log",
        via_trampoline(lua, |lua, args| {
            if args.len() < 2 {
                return raise(lua, "redis.log() requires two arguments or more.");
            }
            let Some(level) = to_number(&args[0]) else {
                return raise(lua, "First argument must be a number (log level).");
            };
            let level = level as i64;
            if !(0..=3).contains(&level) {
                return raise(lua, "Invalid debug level.");
            }
            let mut text = Vec::new();
            for (j, arg) in args.iter().enumerate().skip(1) {
                if let Some(s) = to_bytes(arg) {
                    if j != 1 {
                        text.push(b' ');
                    }
                    text.extend_from_slice(&s);
                }
            }
            let text = String::from_utf8_lossy(&text);
            match level {
                0 | 1 => tracing::debug!(target: "lua", "{text}"),
                2 => tracing::info!(target: "lua", "{text}"),
                _ => tracing::warn!(target: "lua", "{text}"),
            }
            nothing()
        })?,
    )?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, value)?;
    }
    redis.raw_set("REDIS_VERSION_NUM", 0x07_00_0f)?;
    redis.raw_set("REDIS_VERSION", "7.0.15")?;
    Ok(())
}

/// What a library's code sees as its globals while FUNCTION LOAD runs it: only `redis`,
/// with `register_function` (the given function), `log` and the version; reading any
/// other name fails as reading a missing global does.
pub(super) fn library_api(lua: &Lua, register_function: Function) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set("register_function", register_function)?;
    add_log_and_version(lua, &redis)?;
    redis.set_metatable(Some(missing_meta(lua)?));
    let api = lua.create_table()?;
    api.raw_set("redis", read_only(lua, redis)?)?;
    api.set_metatable(Some(missing_meta(lua)?));
    Ok(api)
}

/// Points the globals scripts see at `index` (the real ones, or `library_api`'s).
pub(super) fn set_globals_index(lua: &Lua, index: &Table) -> mlua::Result<()> {
    match lua.globals().metatable() {
        Some(meta) => meta.raw_set("__index", index.clone()),
        None => Err(mlua::Error::runtime("the globals have no metatable")),
    }
}

/// A metatable whose reads of missing names fail with Redis's message.
fn missing_meta(lua: &Lua) -> mlua::Result<Table> {
    let meta = lua.create_table()?;
    // SAFETY: see `raw`.
    meta.raw_set("__index", unsafe {
        lua.create_c_function(raw::missing_global)?
    })?;
    Ok(meta)
}

fn redis_library(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set(
        "call",
        closure(
            lua,
            |lua, args| redis_call(lua, args, true),
            raw::call_trampoline,
        )?,
    )?;
    redis.raw_set(
        "pcall",
        closure(
            lua,
            |lua, args| redis_call(lua, args, false),
            raw::call_trampoline,
        )?,
    )?;
    add_log_and_version(lua, &redis)?;
    redis.raw_set(
        "setresp",
        via_trampoline(lua, |lua, args| {
            if args.len() != 1 {
                return raise(lua, "redis.setresp() requires one argument.");
            }
            let resp = to_number(&args[0]).unwrap_or(0.0) as i64;
            let protocol = match resp {
                2 => Protocol::Resp2,
                3 => Protocol::Resp3,
                _ => return raise(lua, "RESP version must be 2 or 3."),
            };
            match with_run(|run| run.resp = protocol) {
                Some(()) => nothing(),
                None => raise(
                    lua,
                    "redis.setresp can only be called inside a script invocation",
                ),
            }
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        via_trampoline(lua, |lua, args| {
            if args.len() != 1 {
                return raise(lua, "wrong number of arguments");
            }
            let body = to_bytes(&args[0]).unwrap_or_default();
            ret(Value::String(lua.create_string(super::sha1hex(&body))?))
        })?,
    )?;
    redis.raw_set(
        "error_reply",
        via_trampoline(lua, |lua, args| {
            let text = match (args.len(), args.front()) {
                (1, Some(Value::String(s))) => {
                    let s = s.as_bytes();
                    let mut text = Vec::with_capacity(s.len() + 1);
                    if !s.starts_with(b"-") {
                        text.push(b'-');
                    }
                    text.extend_from_slice(&s);
                    text
                }
                _ => b"wrong number or type of arguments".to_vec(),
            };
            ret(convert::error_table(lua, &text, false)?)
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        via_trampoline(lua, |lua, args| match (args.len(), args.front()) {
            (1, Some(Value::String(s))) => {
                let t = lua.create_table()?;
                t.raw_set("ok", s.clone())?;
                ret(Value::Table(t))
            }
            _ => ret(convert::error_table(
                lua,
                b"wrong number or type of arguments",
                false,
            )?),
        })?,
    )?;
    redis.raw_set(
        "set_repl",
        via_trampoline(lua, |lua, args| {
            if with_run(|_| ()).is_none() {
                return raise(
                    lua,
                    "redis.set_repl can only be called inside a script invocation",
                );
            }
            if args.len() != 1 {
                return raise(lua, "redis.set_repl() requires two arguments.");
            }
            let flags = to_number(&args[0]).unwrap_or(0.0) as i64;
            if flags & !3 != 0 {
                return raise(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            nothing()
        })?,
    )?;
    for (name, value) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, value)?;
    }
    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(super::ldb::breakpoint()))?,
    )?;
    redis.raw_set(
        "debug",
        lua.create_function(|_, args: MultiValue| {
            super::ldb::debug(args);
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "acl_check_cmd",
        via_trampoline(lua, |lua, args| {
            if args.is_empty() {
                return raise(
                    lua,
                    "Please specify at least one argument for this redis lib call",
                );
            }
            let mut argv = Vec::with_capacity(args.len());
            for arg in args.iter() {
                match arg {
                    Value::String(s) => argv.push(s.as_bytes().to_vec()),
                    Value::Integer(n) => {
                        argv.push(crate::util::format_double_g17(*n as f64).into_bytes())
                    }
                    Value::Number(n) => argv.push(crate::util::format_double_g17(*n).into_bytes()),
                    _ => {
                        return raise(
                            lua,
                            "Lua redis lib command arguments must be strings or integers",
                        )
                    }
                }
            }
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            match crate::command::Registry::get().resolve(&argv) {
                Ok(_) => ret(Value::Boolean(true)),
                Err(_) => raise(lua, "Invalid command passed to redis.acl_check_cmd()"),
            }
        })?,
    )?;
    Ok(redis)
}
