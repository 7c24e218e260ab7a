//! The few Lua functions that must be C functions, written against the Lua C API
//! (`mlua::ffi`): those that raise an error whose *value* or *position* Redis's scripts
//! can see. A Rust callback registered through mlua raises a wrapped Rust error, never a
//! plain table or a string with `user_script:<line>:` in front, and it sits one stack level
//! further from the script than Redis's C functions do.
//!
//! Nothing here may hold a value with a destructor across a call that can raise: a Lua
//! error is a `longjmp` over these frames.

use std::ffi::{c_int, CStr};

use mlua::ffi::{self, lua_State};

/// The registry field holding `math.random`'s generator state (48 bits, exact in a double).
const RAND48: &CStr = c"lockstep.rand48";
/// `RAND48`, for mlua's named registry values.
pub const RAND48_KEY: &str = "lockstep.rand48";
/// The field that marks a metatable as one of a read-only table.
pub const READONLY_MARK: &CStr = c"__lockstep_readonly";

/// What a Rust function behind `trampoline` asks it to do with its first result.
pub mod mode {
    /// Return it.
    pub const RETURN: i64 = 0;
    /// Raise it as the error value, as it is (a `{err=...}` table).
    pub const RAISE: i64 = 1;
    /// Raise it as a message with the caller's position in front (C's `luaL_error`).
    pub const RAISE_AT: i64 = 2;
    /// Return nothing.
    pub const NOTHING: i64 = 3;
    /// Return the elements `1..=n` of it, a table with its count in `n`.
    pub const SPREAD: i64 = 4;
}

/// Calls its upvalue (a Rust function answering `(value, mode)`) with its own arguments
/// and does what `mode` says, from this C frame: the script stays the caller of a plain C
/// function, as with Redis's.
pub unsafe extern "C-unwind" fn trampoline(l: *mut lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, 2);
    let action = ffi::lua_tointeger(l, -1);
    ffi::lua_pop(l, 1);
    match action {
        mode::RAISE => ffi::lua_error(l),
        mode::RAISE_AT => {
            ffi::luaL_where(l, 1);
            ffi::lua_insert(l, -2);
            ffi::lua_concat(l, 2);
            ffi::lua_error(l)
        }
        mode::NOTHING => 0,
        mode::SPREAD => {
            let t = ffi::lua_gettop(l);
            ffi::lua_getfield(l, t, c"n".as_ptr());
            let n = ffi::lua_tointeger(l, -1) as c_int;
            ffi::lua_pop(l, 1);
            ffi::luaL_checkstack(l, n, c"too many results".as_ptr());
            for i in 1..=n {
                ffi::lua_rawgeti(l, t, i as _);
            }
            n
        }
        _ => 1,
    }
}

/// `trampoline` for `redis.call` and `redis.pcall`: number arguments become their
/// `%.17g` text first, as Redis converts them (Lua's own `tostring` would round to 14
/// digits, and mlua would read `-0.0` as the integer 0).
pub unsafe extern "C-unwind" fn call_trampoline(l: *mut lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    for i in 1..=n {
        if ffi::lua_type(l, i) == ffi::LUA_TNUMBER {
            let text = crate::util::format_double_g17(ffi::lua_tonumber(l, i));
            ffi::lua_pushlstring(l, text.as_ptr().cast(), text.len());
            drop(text);
            ffi::lua_replace(l, i);
        }
    }
    trampoline(l)
}

/// Raises `msg` with the position of the calling Lua code in front.
unsafe fn raise_at(l: *mut lua_State, msg: &[u8]) -> ! {
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// `__index` of the globals' last resort: reading a global that does not exist fails.
pub unsafe extern "C-unwind" fn missing_global(l: *mut lua_State) -> c_int {
    if ffi::lua_isstring(l, 2) == 0 {
        raise_at(
            l,
            b"Second argument to luaProtectedTableError must be a string or number",
        );
    }
    let mut len = 0;
    let name = ffi::lua_tolstring(l, 2, &mut len);
    let name = std::slice::from_raw_parts(name.cast::<u8>(), len);
    let mut msg = b"Script attempted to access nonexistent global variable '".to_vec();
    msg.extend_from_slice(name);
    msg.push(b'\'');
    // `msg` is a Vec: copy it to the Lua stack and free it before raising.
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
    drop(msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// `__newindex` of a read-only table (the globals, `redis`, the libraries).
pub unsafe extern "C-unwind" fn readonly_newindex(l: *mut lua_State) -> c_int {
    raise_at(l, b"Attempt to modify a readonly table")
}

/// `rawset` that refuses read-only tables, as Redis's patched Lua does (without a
/// position: the error is raised inside a C function).
pub unsafe extern "C-unwind" fn checked_rawset(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::luaL_checkany(l, 3);
    if is_readonly(l, 1) {
        let msg = b"Attempt to modify a readonly table";
        ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
        ffi::lua_error(l);
    }
    ffi::lua_settop(l, 3);
    ffi::lua_rawset(l, 1);
    1
}

/// `setmetatable` that refuses read-only tables, as Redis's patched `lua_setmetatable`
/// does (without a position). Otherwise Lua 5.1's own.
pub unsafe extern "C-unwind" fn checked_setmetatable(l: *mut lua_State) -> c_int {
    let t = ffi::lua_type(l, 2);
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
        ffi::luaL_argerror(l, 2, c"nil or table expected".as_ptr());
    }
    if ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr()) != 0 {
        raise_at(l, b"cannot change a protected metatable");
    }
    if is_readonly(l, 1) {
        let msg = b"Attempt to modify a readonly table";
        ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
        ffi::lua_error(l);
    }
    ffi::lua_settop(l, 2);
    ffi::lua_setmetatable(l, 1);
    1
}

/// Replaces a read-only proxy at `idx` with the table it stands for, so that the raw
/// functions see what Redis's read-only tables hold.
unsafe fn unwrap_proxy(l: *mut lua_State, idx: c_int) {
    if !is_readonly(l, idx) {
        return;
    }
    ffi::lua_getmetatable(l, idx);
    ffi::lua_pushstring(l, c"__index".as_ptr());
    ffi::lua_rawget(l, -2);
    if ffi::lua_istable(l, -1) != 0 {
        ffi::lua_replace(l, idx);
        ffi::lua_pop(l, 1);
    } else {
        ffi::lua_pop(l, 2);
    }
}

/// `rawget`, reading through read-only proxies.
pub unsafe extern "C-unwind" fn proxy_rawget(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    unwrap_proxy(l, 1);
    ffi::lua_settop(l, 2);
    ffi::lua_rawget(l, 1);
    1
}

/// `next`, walking through read-only proxies.
pub unsafe extern "C-unwind" fn proxy_next(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    unwrap_proxy(l, 1);
    ffi::lua_settop(l, 2);
    if ffi::lua_next(l, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

/// `pairs`, with `proxy_next` as its iterator.
pub unsafe extern "C-unwind" fn proxy_pairs(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_pushcfunction(l, proxy_next);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

unsafe fn is_readonly(l: *mut lua_State, idx: c_int) -> bool {
    if ffi::lua_getmetatable(l, idx) == 0 {
        return false;
    }
    ffi::lua_pushstring(l, READONLY_MARK.as_ptr());
    ffi::lua_rawget(l, -2);
    let marked = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_pop(l, 2);
    marked
}

/// Redis's `pcall`: an error that is a table with a string `err` comes back as that
/// string (Redis 7 raises tables; scripts written for older versions expect strings).
/// A script being killed is not caught.
pub unsafe extern "C-unwind" fn pcall(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        if super::kill_requested() {
            ffi::lua_error(l);
        }
        ffi::lua_remove(l, 1);
        if ffi::lua_istable(l, -1) != 0 {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// The state `math.random` starts from in a new server (rand48's default seed).
pub const RAND48_INITIAL: u64 = 0x1234_ABCD_330E;
const RAND48_MASK: u64 = (1 << 48) - 1;
/// The largest value `lrand48` can return, which Redis divides by.
const LRAND48_MAX: i64 = i32::MAX as i64;

unsafe fn rand48_state(l: *mut lua_State) -> u64 {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, RAND48.as_ptr());
    let x = ffi::lua_tonumber(l, -1) as u64;
    ffi::lua_pop(l, 1);
    x
}

unsafe fn set_rand48_state(l: *mut lua_State, x: u64) {
    ffi::lua_pushnumber(l, x as f64);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, RAND48.as_ptr());
}

/// rand48's `lrand48`: the next 31-bit value.
unsafe fn lrand48(l: *mut lua_State) -> i64 {
    let x = rand48_state(l);
    let x = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & RAND48_MASK;
    set_rand48_state(l, x);
    (x >> 17) as i64
}

/// `math.random` as Redis replaces it: Lua's own, on rand48 instead of the C library's
/// `rand()`, so every platform gives the same sequence.
pub unsafe extern "C-unwind" fn math_random(l: *mut lua_State) -> c_int {
    let r = (lrand48(l) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let u = ffi::luaL_checkinteger(l, 1) as c_int;
            if u < 1 {
                ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(l, (r * u as f64).floor() + 1.0);
        }
        2 => {
            let lo = ffi::luaL_checkinteger(l, 1) as c_int;
            let hi = ffi::luaL_checkinteger(l, 2) as c_int;
            if lo > hi {
                ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
            }
            let span = (hi as f64) - (lo as f64) + 1.0;
            ffi::lua_pushnumber(l, (r * span).floor() + lo as f64);
        }
        _ => raise_at(l, b"wrong number of arguments"),
    }
    1
}

/// `math.randomseed` on rand48 (`srand48`).
pub unsafe extern "C-unwind" fn math_randomseed(l: *mut lua_State) -> c_int {
    let seed = ffi::luaL_checkinteger(l, 1) as i32;
    let low = (seed as u32 & 0xFFFF) as u64;
    let high = ((seed >> 16) as u32 & 0xFFFF) as u64;
    set_rand48_state(l, 0x330E | (low << 16) | (high << 32));
    0
}
