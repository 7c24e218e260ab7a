//! Redis 7's functions: libraries of Lua functions loaded with FUNCTION LOAD and called
//! with FCALL, in a Lua state of their own (as Redis keeps them apart from EVAL's).
//!
//! Loading runs the library's code once, with nothing but `redis.register_function`,
//! `redis.log` and the version for globals, under a time limit; each registered function
//! keeps the globals table, whose reads go to the full `redis` library once loading ends.
//! A function is called with its keys and arguments as two Lua arrays, and runs as EVAL's
//! scripts run (`run_script`): under the state's lock, stoppable by FUNCTION KILL.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use indexmap::IndexMap;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::sandbox::to_bytes;
use super::{check_flags, raw, run_script, sandbox, strings, ScriptFlags, Vm};
use crate::busy::FunctionRun;
use crate::command::{CommandError, Ctx};
use crate::errors;

/// How long a library's code may run while it loads.
const LOAD_LIMIT: Duration = Duration::from_millis(500);

/// The one engine, as FUNCTION LIST and STATS name it.
pub const ENGINE: &str = "LUA";

/// The flags a function can declare, in the order FUNCTION LIST shows them.
const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A registered function.
pub struct FunctionDef {
    pub name: String,
    pub description: Option<Vec<u8>>,
    pub flags: ScriptFlags,
    func: Function,
}

impl FunctionDef {
    /// The names of its flags, in FUNCTION LIST's order.
    pub fn flag_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let f = self.flags;
        let set = [
            f.no_writes,
            f.allow_oom,
            f.allow_stale,
            f.no_cluster,
            f.allow_cross_slot_keys,
        ];
        FLAG_NAMES
            .into_iter()
            .zip(set)
            .filter_map(|(name, on)| on.then_some(name))
    }
}

/// A loaded library: its code as given (shebang line included) and its functions.
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<FunctionDef>,
}

/// The libraries, and the Lua state they live in (made on first load).
#[derive(Default)]
pub struct Functions {
    vm: Option<Box<FunctionsVm>>,
    /// By name (letter case counts), in load order.
    libraries: IndexMap<String, Library>,
    /// Function names, lower-cased (FCALL ignores letter case), to their library.
    by_name: HashMap<String, String>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("libraries", &self.libraries.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct FunctionsVm {
    vm: Vm,
    /// The globals a library's code sees while it loads.
    library_api: Table,
    /// `function(f, handler, keys, args)`: calls `f(keys, args)` under `handler`.
    runner: Function,
}

/// The library being loaded, in the Lua state's app data while its code runs.
struct Loading {
    started: Instant,
    functions: Vec<FunctionDef>,
}

/// Whether the library being loaded has run past its time (asked from the hook).
pub(super) fn load_timed_out(lua: &Lua) -> bool {
    lua.app_data_ref::<Loading>()
        .is_some_and(|l| l.started.elapsed() > LOAD_LIMIT)
}

impl FunctionsVm {
    fn new() -> mlua::Result<FunctionsVm> {
        let vm = Vm::new(raw::RAND48_INITIAL)?;
        let register = sandbox::via_trampoline(&vm.lua, register_function)?;
        let library_api = sandbox::library_api(&vm.lua, register)?;
        let runner = vm
            .lua
            .load(
                "local xpcall = ...\n\
                 return function(f, handler, keys, args)\n\
                 return xpcall(function() return f(keys, args) end, handler)\n\
                 end",
            )
            .set_name("=function_runner")
            .call::<Function>(vm.xpcall.clone())?;
        Ok(FunctionsVm {
            vm,
            library_api,
            runner,
        })
    }

    /// Compiles and runs a library's code (without its shebang line, whose newline stays),
    /// answering the functions it registered, or Redis's error text.
    fn load(&self, body: &[u8]) -> Result<Vec<FunctionDef>, String> {
        let lua = &self.vm.lua;
        let chunk = super::compile(lua, body, "@user_function")
            .map_err(|msg| format!("Error compiling function: {msg}"))?;
        let failure = |e: mlua::Error| format!("Error registering functions: ERR {e}");
        sandbox::set_globals_index(lua, &self.library_api).map_err(failure)?;
        lua.set_app_data(Loading {
            started: Instant::now(),
            functions: Vec::new(),
        });
        let outcome = self
            .vm
            .xpcall
            .call::<MultiValue>((chunk, self.vm.handler.clone()));
        let loading = lua.remove_app_data::<Loading>();
        let restored = sandbox::set_globals_index(lua, &self.vm.globals);
        // A load past its time leaves the hook failing every line: put the counting one
        // back (cheap next to compiling).
        lua.remove_hook();
        super::install_hook(lua);
        restored.map_err(failure)?;
        let mut values = outcome.map_err(failure)?.into_iter();
        if !matches!(values.next(), Some(Value::Boolean(true))) {
            let msg = match values.next() {
                Some(Value::Table(t)) => t.raw_get::<Option<mlua::String>>("err").ok().flatten(),
                _ => None,
            };
            let msg = msg.map_or_else(
                || "(null)".to_string(),
                |m| String::from_utf8_lossy(&m.as_bytes()).into_owned(),
            );
            return Err(format!("Error registering functions: {msg}"));
        }
        Ok(loading.map(|l| l.functions).unwrap_or_default())
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=,
/// callback=, flags=, description=}`, checked in Redis's order.
fn register_function(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, i64)> {
    let raise = |msg: &str| -> mlua::Result<(Value, i64)> {
        Ok((
            super::convert::error_table(lua, msg.as_bytes(), false)?,
            raw::mode::RAISE,
        ))
    };
    if lua.app_data_ref::<Loading>().is_none() {
        return raise("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let def = match args.len() {
        1 => named_args(&args[0]),
        2 => positional_args(&args[0], &args[1]),
        _ => Err("wrong number of arguments to redis.register_function"),
    };
    let (name, description, flags, func) = match def {
        Ok(def) => def,
        Err(msg) => return raise(msg),
    };
    if !valid_name(name.as_bytes()) {
        return raise(errors::LIBRARY_NAME_INVALID);
    }
    let Some(mut loading) = lua.app_data_mut::<Loading>() else {
        return raise("redis.register_function can only be called on FUNCTION LOAD command");
    };
    if loading.functions.iter().any(|f| f.name == name) {
        drop(loading);
        return raise("Function already exists in the library");
    }
    loading.functions.push(FunctionDef {
        name,
        description,
        flags,
        func,
    });
    Ok((Value::Nil, raw::mode::NOTHING))
}

type Registration = (String, Option<Vec<u8>>, ScriptFlags, Function);

fn positional_args(name: &Value, callback: &Value) -> Result<Registration, &'static str> {
    let name =
        to_bytes(name).ok_or("first argument to redis.register_function must be a string")?;
    let Value::Function(func) = callback else {
        return Err("second argument to redis.register_function must be a function");
    };
    Ok((
        String::from_utf8_lossy(&name).into_owned(),
        None,
        ScriptFlags::default(),
        func.clone(),
    ))
}

fn named_args(table: &Value) -> Result<Registration, &'static str> {
    let Value::Table(table) = table else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut description, mut flags, mut func) = (None, None, None, None);
    for pair in table.pairs::<Value, Value>() {
        let Ok((key, value)) = pair else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        let Some(key) = to_bytes(&key) else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        match key.to_ascii_lowercase().as_slice() {
            b"function_name" => {
                name = Some(to_bytes(&value).ok_or(
                    "function_name argument given to redis.register_function must be a string",
                )?);
            }
            b"description" => {
                description = Some(to_bytes(&value).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
            }
            b"callback" => match value {
                Value::Function(f) => func = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            b"flags" => {
                let Value::Table(list) = value else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                flags = Some(read_flags(&list).ok_or("unknown flag given")?);
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let func = func.ok_or("redis.register_function must get a callback argument")?;
    Ok((
        String::from_utf8_lossy(&name).into_owned(),
        description,
        flags.unwrap_or_default(),
        func,
    ))
}

/// A flags array: its names up to the first nil, any letter case.
fn read_flags(list: &Table) -> Option<ScriptFlags> {
    let mut flags = ScriptFlags::default();
    for i in 1.. {
        let value: Value = list.raw_get(i).ok()?;
        if value.is_nil() {
            break;
        }
        let name = to_bytes(&value)?.to_ascii_lowercase();
        match name.as_slice() {
            b"no-writes" => flags.no_writes = true,
            b"allow-oom" => flags.allow_oom = true,
            b"allow-stale" => flags.allow_stale = true,
            b"no-cluster" => flags.no_cluster = true,
            b"allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
            _ => return None,
        }
    }
    Some(flags)
}

/// Library and function names: letters, digits and `_`, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A library's shebang line: `#!<engine> name=<name>`, read as Redis reads it (split as
/// `redis-cli` splits, `name=` in any letter case). Answers the engine, the name and
/// where the code after the line starts.
fn metadata(code: &[u8]) -> Result<(Vec<u8>, Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts = match lockstep_resp::request::split_args(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let name = name.ok_or_else(|| "Library name was not given".to_string())?;
    Ok((engine, name, end))
}

/// The functions' Lua state, made on first use.
fn vm_of(vm: &mut Option<Box<FunctionsVm>>) -> &FunctionsVm {
    vm.get_or_insert_with(|| Box::new(FunctionsVm::new().expect("a new Lua state for functions")))
}

impl Functions {
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    pub fn library_count(&self) -> usize {
        self.libraries.len()
    }

    pub fn function_count(&self) -> usize {
        self.libraries.values().map(|l| l.functions.len()).sum()
    }

    /// Bytes the functions' Lua state uses (INFO `used_memory_vm_functions`).
    pub fn lua_memory(&self) -> usize {
        self.vm.as_ref().map_or(0, |f| f.vm.lua.used_memory())
    }

    /// Bytes the library code and names take (INFO `used_memory_functions`).
    pub fn overhead(&self) -> usize {
        self.libraries
            .values()
            .map(|l| {
                l.name.len()
                    + l.code.len()
                    + l.functions
                        .iter()
                        .map(|f| f.name.len() + f.description.as_ref().map_or(0, Vec::len) + 64)
                        .sum::<usize>()
                    + 64
            })
            .sum()
    }

    /// FUNCTION LOAD: compiles and runs the library's code, then adds the library (or,
    /// with `replace`, puts it in the place of the one of its name). Answers its name, or
    /// Redis's error text (without `ERR `).
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let libraries = &self.libraries;
        let library = compile(vm_of(&mut self.vm), code, |name| {
            libraries.contains_key(name) && !replace
        })?;
        let name = library.name.clone();
        self.join(vec![library], replace)?;
        Ok(name)
    }

    /// Adds `new` libraries: a library of a name already there is refused, or with
    /// `replace` takes its place; a function whose name (any letter case) another library
    /// has refuses the whole join. Nothing changes on error.
    fn join(&mut self, new: Vec<Library>, replace: bool) -> Result<(), String> {
        for library in &new {
            if self.libraries.contains_key(&library.name) && !replace {
                return Err(format!("Library {} already exists", library.name));
            }
        }
        let replaced = |lib: &str| new.iter().any(|l| l.name == lib);
        for function in new.iter().flat_map(|l| &l.functions) {
            if let Some(owner) = self.by_name.get(&function.name.to_ascii_lowercase()) {
                if !replaced(owner) {
                    return Err(format!("Function {} already exists", function.name));
                }
            }
        }
        for library in new {
            if let Some(old) = self.libraries.get(&library.name) {
                for function in &old.functions {
                    self.by_name.remove(&function.name.to_ascii_lowercase());
                }
            }
            for function in &library.functions {
                // Two names of one library that differ only in letter case: FCALL finds
                // the first.
                self.by_name
                    .entry(function.name.to_ascii_lowercase())
                    .or_insert_with(|| library.name.clone());
            }
            self.libraries.insert(library.name.clone(), library);
        }
        Ok(())
    }

    /// FUNCTION DELETE.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(library) = std::str::from_utf8(name)
            .ok()
            .and_then(|name| self.libraries.shift_remove(name))
        else {
            return false;
        };
        for function in &library.functions {
            self.by_name.remove(&function.name.to_ascii_lowercase());
        }
        true
    }

    /// FUNCTION FLUSH: every library goes; the Lua state stays.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.by_name.clear();
    }

    /// FUNCTION DUMP's payload: each library's code, then the trailer.
    pub fn dump(&self, compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for library in self.libraries.values() {
            out.push(crate::rdb::OPCODE_FUNCTION2);
            crate::rdb::write_string(&mut out, &library.code, compress);
        }
        crate::rdb::finish_dump(&mut out);
        out
    }

    /// FUNCTION RESTORE of a DUMP payload under a policy. Errors are Redis's texts
    /// (without `ERR `); nothing changes on error.
    pub fn restore(&mut self, payload: &[u8], policy: RestorePolicy) -> Result<(), String> {
        let (body, _version) =
            crate::rdb::verify_dump(payload).ok_or("DUMP payload version or checksum are wrong")?;
        let mut reader = crate::rdb::Reader::new(body);
        let mut new: Vec<Library> = Vec::new();
        while !reader.is_empty() {
            match reader.byte() {
                Some(crate::rdb::OPCODE_FUNCTION2) => {}
                Some(crate::rdb::OPCODE_FUNCTION_PRE_GA) => {
                    return Err("Pre-GA function format not supported".into())
                }
                Some(_) => return Err("given type is not a function".into()),
                None => return Err("can not read data type".into()),
            }
            let code = reader.string().ok_or("Failed loading library payload")?;
            let library = compile(vm_of(&mut self.vm), &code, |name| {
                new.iter().any(|l| l.name == name)
            })?;
            for function in &library.functions {
                let lower = function.name.to_ascii_lowercase();
                let clash = new
                    .iter()
                    .flat_map(|l| &l.functions)
                    .any(|f| f.name.to_ascii_lowercase() == lower);
                if clash {
                    return Err(format!("Function {} already exists", function.name));
                }
            }
            new.push(library);
        }
        match policy {
            RestorePolicy::Flush => {
                self.flush();
                self.join(new, false)
            }
            RestorePolicy::Append => self.join(new, false),
            RestorePolicy::Replace => self.join(new, true),
        }
    }

    /// The flags of the function FCALL names.
    pub fn flags_of(&self, name: &[u8]) -> Option<ScriptFlags> {
        self.find(name).map(|f| f.flags)
    }

    /// The function FCALL names (any letter case).
    fn find(&self, name: &[u8]) -> Option<&FunctionDef> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let library = self.libraries.get(self.by_name.get(&lower)?)?;
        library
            .functions
            .iter()
            .find(|f| f.name.to_ascii_lowercase() == lower)
    }
}

/// Checks a library's metadata and runs its code, refusing a name `taken` says is
/// taken; adds nothing.
fn compile(vm: &FunctionsVm, code: &[u8], taken: impl Fn(&str) -> bool) -> Result<Library, String> {
    let (engine, name, body_start) = metadata(code)?;
    if !valid_name(&name) {
        return Err(errors::LIBRARY_NAME_INVALID.into());
    }
    if !engine.eq_ignore_ascii_case(ENGINE.as_bytes()) {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(&engine)
        ));
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    if taken(&name) {
        return Err(format!("Library '{name}' already exists"));
    }
    let functions = vm.load(&code[body_start..])?;
    if functions.is_empty() {
        return Err("No functions registered".into());
    }
    Ok(Library {
        name,
        code: code.to_vec(),
        functions,
    })
}

/// What FUNCTION RESTORE does with the libraries already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// FCALL and FCALL_RO (`read_only`): runs the function `argv[1]` with `numkeys` keys and
/// the arguments after them, writing its reply into `ctx.out`.
pub fn fcall(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> Result<(), CommandError> {
    let functions = &ctx.state.functions;
    let Some(function) = functions.find(argv[1]) else {
        return Err(errors::FUNCTION_NOT_FOUND.into());
    };
    let numkeys = crate::util::parse_i64(argv[2]).ok_or(errors::BAD_NUMKEYS)?;
    let numkeys = super::numkeys(numkeys, argv.len() - 3)?;
    let read_only = check_flags(function.flags, read_only, ctx.state.cluster.is_some())?;
    let allow_oom = function.flags.declares_allow_oom();
    let Some(fvm) = functions.vm.as_deref() else {
        return Err(errors::FUNCTION_NOT_FOUND.into());
    };
    let (keys, args) = argv[3..].split_at(numkeys);
    let lua = fvm.vm.lua.clone();
    let (runner, handler, func) = (
        fvm.runner.clone(),
        fvm.vm.handler.clone(),
        function.func.clone(),
    );
    let name = function.name.clone();
    let run = FunctionRun {
        name: name.clone(),
        command: argv.iter().map(|a| a.to_vec()).collect(),
        libraries: functions.library_count(),
        functions: functions.function_count(),
    };
    let (keys_table, args_table) = match (strings(&lua, keys), strings(&lua, args)) {
        (Ok(keys), Ok(args)) => (keys, args),
        (Err(e), _) | (_, Err(e)) => return Err(format!("ERR {e}").into()),
    };
    run_script(
        ctx,
        &lua,
        &name,
        keys,
        (read_only, allow_oom),
        Some(run),
        || runner.call::<MultiValue>((func, handler, keys_table, args_table)),
    );
    Ok(())
}
