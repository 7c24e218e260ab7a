#!/usr/bin/env node
// node-redis against a running server:
// `node tests/clients/smoke_node_redis.js PORT [MODULE] [--auth-port PORT]`.
//
// MODULE is the package to load: `redis` (node-redis 4.x, RESP2 only; it sends CLIENT
// SETNAME on connect when given a name) or `redis-v6` (node-redis 6.x: CLIENT SETINFO on
// every connect, HELLO 3 with `RESP: 3`, also run in RESP2). Runs the same workload over
// 127.0.0.1, `localhost` (whichever address Node resolves it to first) and ::1 (when the
// host has IPv6), the way an application uses node-redis: its handshake, typed command
// methods, auto-pipelining, execAsPipeline, transactions (multi, watch, discard),
// pub/sub (a duplicate() subscriber's listeners; in RESP3 commands on it while subscribed),
// scanIterator and 50 clients at once. With --auth-port, also its AUTH handshake against a
// server started with `requirepass smoke-secret`. Exits 0 when every check passed; on the
// first failure prints which check, against which address and protocol, and exits 1. Keys
// and channels live under a prefix unique to this run.
"use strict";

const util = require("node:util");
const common = require("./common");
const { PASSWORD, expect, expectTrue } = common;

const setup = common.setup("smoke_node_redis.js", "redis", "redis|redis-v6");
const { port, authPort, moduleName, lib: redis, major } = setup;
const protocols = major >= 5 ? [2, 3] : [2];
const { ErrorReply } = redis;
const expectError = common.errorCheck(ErrorReply, "an ErrorReply");

/** CLIENT INFO's `key=value` fields. */
function clientFields(line) {
  return Object.fromEntries(
    line
      .trim()
      .split(" ")
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

/** node-redis 4 yields one key per step of scanIterator, 5 and later a batch. */
async function collect(iterator) {
  const keys = [];
  for await (const item of iterator) {
    if (Array.isArray(item)) keys.push(...item);
    else keys.push(item);
  }
  return keys;
}

class Run extends common.SmokeRun {
  constructor(host, protocol) {
    super("node-redis", moduleName, host, protocol);
  }

  create(options) {
    return redis.createClient({
      // Fail instead of reconnecting: a dropped connection is a bug here.
      socket: { host: this.host, port, connectTimeout: 5000, reconnectStrategy: false },
      ...(major >= 5 ? { RESP: this.protocol } : {}),
      ...options,
    });
  }

  async clientList(c) {
    return String(await c.sendCommand(["CLIENT", "LIST"]));
  }

  async close() {
    await Promise.all(
      this.clients.map((c) => (c.isOpen ? c.quit().catch(() => c.disconnect()) : undefined)),
    );
  }

  async handshake() {
    this.r = await this.client();
    const r = this.r;
    expect(await r.ping(), "PONG", "PING");
    const fields = clientFields(String(await r.sendCommand(["CLIENT", "INFO"])));
    expect(fields.resp, String(this.protocol), "CLIENT INFO resp=");
    this.laddr = fields.laddr;
    expect(await r.sendCommand(["ECHO", "hé\0llo"]), "hé\0llo", "ECHO of non-ASCII and NUL");
    if (this.protocol === 3) {
      const hello = await r.hello("3");
      expect(hello.proto, 3, "HELLO 3 proto");
      expect(hello.version, "7.0.15", "HELLO 3 version");
    }
  }

  async strings() {
    const { r } = this;
    const k = (n) => this.k(n);
    expect(await r.set(k("s"), "v1"), "OK", "SET");
    expect(await r.get(k("s")), "v1", "GET");
    expect(await r.get(k("missing")), null, "GET of a missing key");
    expect(await r.set(k("s"), "v2", { NX: true }), null, "SET NX on an existing key");
    expect(await r.set(k("s"), "v2", { XX: true, GET: true }), "v1", "SET XX GET");
    expect(await r.set(k("s"), "v3", { EX: 100 }), "OK", "SET EX");
    const ttl = await r.ttl(k("s"));
    expectTrue(ttl > 95 && ttl <= 100, `TTL after SET EX 100: ${ttl}`);
    expect(await r.set(k("s"), "v4", { KEEPTTL: true }), "OK", "SET KEEPTTL");
    expectTrue((await r.ttl(k("s"))) > 0, "KEEPTTL kept the TTL");
    expect(await r.set(k("s"), "v5", { PX: 200000, XX: true }), "OK", "SET PX XX");
    const pttl = await r.pTTL(k("s"));
    expectTrue(pttl > 190000 && pttl <= 200000, `PTTL after SET PX: ${pttl}`);
    expect(await r.set(k("s"), "v6", { EXAT: Math.floor(Date.now() / 1000) + 1000 }), "OK", "SET EXAT");
    expect(await r.set(k("s"), "v7", { PXAT: Date.now() + 1000000 }), "OK", "SET PXAT");
    await expectError(r.set(k("s"), "v", { EX: 0 }), "invalid expire time in 'set' command", "SET EX 0");
    const binary = Buffer.from([0, 0xff, 13, 10, 0, 98]);
    await r.set(k("bin"), binary);
    const raw = major >= 5
      ? await r.withTypeMapping({ [redis.RESP_TYPES.BLOB_STRING]: Buffer }).get(k("bin"))
      : await r.get(redis.commandOptions({ returnBuffers: true }), k("bin"));
    expect(raw, binary, "binary-safe value");
    expect(await r.mSet({ [k("m1")]: "a", [k("m2")]: "b" }), "OK", "MSET");
    expect(await r.mGet([k("m1"), k("missing"), k("m2")]), ["a", null, "b"], "MGET");
    expect(await r.incr(k("n")), 1, "INCR of a missing key");
    expect(await r.incrBy(k("n"), 41), 42, "INCRBY");
    expect(await r.decr(k("n")), 41, "DECR");
    expect(String(await r.incrByFloat(k("f"), 10.5)), "10.5", "INCRBYFLOAT");
    expect(String(await r.incrByFloat(k("f"), 0.1)), "10.6", "INCRBYFLOAT again");
    expect(await r.append(k("ap"), "Hello"), 5, "APPEND to a missing key");
    expect(await r.append(k("ap"), " World"), 11, "APPEND");
    expect(await r.getRange(k("ap"), 0, 4), "Hello", "GETRANGE");
    expect(await r.getRange(k("ap"), -5, -1), "World", "GETRANGE with negative offsets");
    expect(await r.strLen(k("ap")), 11, "STRLEN");
    expect(await r.getDel(k("ap")), "Hello World", "GETDEL");
  }

  async errors() {
    const { r } = this;
    await r.set(this.k("text"), "abc");
    const e = await expectError(r.incr(this.k("text")), "value is not an integer", "INCR of text");
    expect(e.message, "ERR value is not an integer or out of range", "INCR error text");
    await expectError(r.incrByFloat(this.k("text"), 1), "ERR value is not a valid float", "INCRBYFLOAT of text");
    await expectError(r.sendCommand(["NOSUCHCMD", "x"]), "ERR unknown command 'NOSUCHCMD'", "unknown command");
    await expectError(r.sendCommand(["GET"]), "ERR wrong number of arguments for 'get' command", "arity error");
    expect(await r.get(this.k("text")), "abc", "GET after errors");
    const commands = await r.sendCommand(["COMMAND", "LIST"]);
    if (commands.includes("lpush")) {
      await expectError(r.lPush(this.k("text"), "x"), "WRONGTYPE Operation against a key", "LPUSH on a string");
      await r.rPush(this.k("list"), "a");
      await expectError(r.get(this.k("list")), "WRONGTYPE", "GET on a list");
    }
  }

  async keys() {
    const { r } = this;
    const k = (n) => this.k(`keys:${n}`);
    await r.set(k("a"), "1");
    await r.set(k("b"), "2");
    expect(await r.exists([k("a"), k("b"), k("nope")]), 2, "EXISTS");
    expect(await r.type(k("a")), "string", "TYPE");
    expect(await r.type(k("nope")), "none", "TYPE of a missing key");
    expect(Number(await r.expire(k("a"), 100)), 1, "EXPIRE");
    const ttl = await r.ttl(k("a"));
    expectTrue(ttl > 95 && ttl <= 100, `TTL after EXPIRE: ${ttl}`);
    expect(Number(await r.expire(k("nope"), 100)), 0, "EXPIRE of a missing key");
    expect(await r.ttl(k("nope")), -2, "TTL of a missing key");
    expect(Number(await r.persist(k("a"))), 1, "PERSIST");
    expect(await r.rename(k("a"), k("a2")), "OK", "RENAME");
    await expectError(r.rename(k("nope"), k("x")), "ERR no such key", "RENAME of a missing key");
    expect((await r.keys(k("*"))).sort(), [k("a2"), k("b")], "KEYS");
    expect(await r.del([k("a2"), k("b"), k("nope")]), 2, "DEL");
    expect(await r.keys(k("*")), [], "KEYS after DEL");
  }

  async scan() {
    const { r } = this;
    const names = Array.from({ length: 250 }, (_, i) => this.k(`scan:${i}`));
    await Promise.all(names.map((n) => r.set(n, "x")));
    const seen = await collect(r.scanIterator({ MATCH: this.k("scan:*"), COUNT: 20 }));
    expect([...new Set(seen)].sort(), [...names].sort(), "scanIterator saw every key");
    const typed = await collect(r.scanIterator({ MATCH: this.k("scan:*"), TYPE: "string", COUNT: 100 }));
    expect([...new Set(typed)].sort(), [...names].sort(), "scanIterator with TYPE");
    expect(await r.del(names), 250, "DEL of the scanned keys");
  }

  async select() {
    const other = await this.client({ database: 5 });
    await other.set(this.k("db5"), "five");
    expect(await this.r.get(this.k("db5")), null, "a key of db 5 is not in db 0");
    expect(await other.get(this.k("db5")), "five", "database: 5 connection sees its key");
    await other.select(0);
    expect(await other.get(this.k("db5")), null, "after SELECT 0");
    await expectError(other.select(16), "ERR DB index is out of range", "SELECT 16");
  }

  async pipeline() {
    const { r } = this;
    const keys = Array.from({ length: 1000 }, (_, i) => this.k(`p:${i}`));
    // Commands issued in one tick go out in one write (node-redis auto-pipelines).
    const sets = await Promise.all(keys.map((key, i) => r.set(key, String(i))));
    expect(sets, keys.map(() => "OK"), "1000 auto-pipelined SETs");
    const gets = await Promise.all(keys.map((key) => r.get(key)));
    expect(gets, keys.map((_, i) => String(i)), "1000 auto-pipelined GETs");
    let multi = r.multi();
    for (const key of keys) multi = multi.get(key);
    expect(await multi.execAsPipeline(), keys.map((_, i) => String(i)), "execAsPipeline of 1000 GETs");
    // execAsPipeline rejects as a whole on an error; issued separately, only its command fails.
    const settled = await Promise.allSettled([
      r.set(this.k("p:t"), "x"),
      r.incr(this.k("p:t")),
      r.get(this.k("p:t")),
    ]);
    expectTrue(
      settled[1].status === "rejected" && settled[1].reason instanceof ErrorReply,
      `an error in a pipeline fails its own command: ${util.inspect(settled)}`,
    );
    expect(settled[2], { status: "fulfilled", value: "x" }, "the command after the error ran");
    expect(await r.del(keys), 1000, "DEL");
  }

  async transactions() {
    const { r } = this;
    const k = (n) => this.k(`tx:${n}`);
    expect(
      await r.multi().set(k("n"), "1").incr(k("n")).get(k("n")).exec(),
      ["OK", 2, "2"],
      "multi().set().incr().get().exec()",
    );
    // A run-time error fails its own command only: EXEC runs the others, and node-redis
    // rejects with a MultiErrorReply that holds every reply.
    const failed = await expectError(
      r.multi().set(k("s"), "text").incr(k("s")).append(k("s"), "!").get(k("s")).exec(),
      "1 commands failed",
      "a run-time error inside EXEC",
    );
    expectTrue(failed instanceof redis.MultiErrorReply, `a MultiErrorReply: ${util.inspect(failed)}`);
    expect(failed.errorIndexes, [1], "MultiErrorReply errorIndexes");
    expect(failed.replies[1].message, "ERR value is not an integer or out of range", "the INCR error");
    expect([failed.replies[0], failed.replies[2], failed.replies[3]], ["OK", 5, "text!"], "the others ran");
    // A command refused while queueing aborts the transaction: node-redis 4 rejects with
    // EXEC's EXECABORT, 5 and later with the refusal itself.
    const refused = r.multi().set(k("abort"), "x");
    if (major >= 5) refused.sendCommand(["NOSUCHCMD", "y"]);
    else refused.addCommand(["NOSUCHCMD", "y"]);
    await expectError(
      refused.exec(),
      major >= 5 ? "ERR unknown command 'NOSUCHCMD'" : "EXECABORT Transaction discarded because of previous errors.",
      "a refused command inside MULTI",
    );
    expect(await r.exists(k("abort")), 0, "the aborted transaction ran nothing");
    // WATCH: another connection's write makes exec() reject with WatchError.
    const watcher = await this.watchAndRetry(k("w"), {
      execReplies: (replies) => replies,
      expectAborted: async (exec) => {
        const watchFailed = await exec.then((reply) => ({ reply }), (error) => error);
        expectTrue(
          watchFailed instanceof redis.WatchError &&
            watchFailed.message === "One (or more) of the watched keys has been changed",
          `exec() after the watched key changed rejects with WatchError: ${util.inspect(watchFailed)}`,
        );
      },
    });
    if (major < 5) {
      // node-redis 4 has discard(); 5 and later leave MULTI to multi().
      expect(await watcher.sendCommand(["MULTI"]), "OK", "MULTI");
      expect(await watcher.sendCommand(["SET", k("d"), "x"]), "QUEUED", "SET inside MULTI");
      expect(await watcher.discard(), "OK", "discard()");
      expect(await watcher.exists(k("d")), 0, "DISCARD dropped the queued SET");
    }
  }

  async pubsub() {
    const { r } = this;
    const k = (n) => this.ps(n);
    const { news, other, pattern, quiet } = this.channels;
    const numpat = await r.pubSubNumPat();
    // node-redis subscribes on a connection of its own: duplicate() keeps the options (RESP).
    const sub = r.duplicate();
    sub.on("error", () => {}); // surfaced by the failing command instead
    await sub.connect();
    this.clients.push(sub);
    const subId = await sub.clientId();
    const inbox = new common.Inbox();
    // A listener is called with (message, channel), for a pattern too.
    await sub.subscribe([news, other], (message, channel) => inbox.push("message", channel, message));
    await sub.pSubscribe(pattern, (message, channel) => inbox.push("pmessage", pattern, channel, message));
    expect(sub.isPubSubActive, true, "isPubSubActive after subscribe()");
    const listed = clientFields(String(await r.sendCommand(["CLIENT", "LIST", "ID", String(subId)])));
    expect(
      [listed.flags, listed.sub, listed.psub, listed.ssub],
      ["P", "2", "1", "0"],
      "CLIENT LIST flags, sub, psub, ssub of the subscriber",
    );
    expect({ ...(await r.pubSubNumSub([news, quiet])) }, { [news]: 1, [quiet]: 0 }, "PUBSUB NUMSUB");
    expect((await r.pubSubChannels(k("*"))).sort(), [news, other].sort(), "PUBSUB CHANNELS of the run");
    expect(await r.pubSubNumPat(), numpat + 1, "PUBSUB NUMPAT counts the pattern");

    await this.expectDeliveries(inbox);

    if (this.protocol === 2) {
      // RESP2 subscribed mode: PING is answered as a message, other commands are refused.
      expect(await sub.ping(), "pong", "PING in subscribed mode");
      await expectError(
        sub.get(k("key")),
        "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed " +
          "in this context",
        "GET in subscribed mode",
      );
    } else {
      await this.expectCommandsWhileSubscribed(sub, inbox);
      const info = clientFields(String(await sub.sendCommand(["CLIENT", "INFO"])));
      expect([info.resp, info.sub, info.psub], ["3", "2", "1"], "CLIENT INFO of the subscriber, from itself");
    }

    await sub.unsubscribe(news);
    await this.expectPatternAlone(inbox, async (channel, messages) => {
      const published = await Promise.all(messages.map((message) => r.publish(channel, message)));
      expect(published, messages.map(() => 1), "200 auto-pipelined PUBLISHes");
    });
    await sub.unsubscribe(other);
    await sub.pUnsubscribe(pattern);
    expect(await r.publish(news, "gone"), 0, "PUBLISH after every unsubscribe");
    expect({ ...(await r.pubSubNumSub([news])) }, { [news]: 0 }, "PUBSUB NUMSUB after unsubscribe()");

    await sub.sSubscribe(k("shard"), (message, channel) => inbox.push("smessage", channel, message));
    expect(await r.sPublish(k("shard"), "s"), 1, "SPUBLISH");
    expect(await inbox.take(1, "the smessage"), [["smessage", k("shard"), "s"]], "the sSubscribe() listener");
    expect({ ...(await r.pubSubShardNumSub([k("shard")])) }, { [k("shard")]: 1 }, "PUBSUB SHARDNUMSUB");
    expect(await r.pubSubShardChannels(k("*")), [k("shard")], "PUBSUB SHARDCHANNELS of the run");
    await sub.sUnsubscribe(k("shard"));
    await inbox.expectQuiet("nothing else arrived");
    expect(sub.isPubSubActive, false, "isPubSubActive after unsubscribing everything");
    expect(await sub.get(k("missing")), null, "out of subscribed mode, any command");
    const after = clientFields(String(await r.sendCommand(["CLIENT", "LIST", "ID", String(subId)])));
    expect([after.flags, after.sub, after.psub, after.ssub], ["N", "0", "0", "0"], "CLIENT LIST after unsubscribing");
  }

  async clientName() {
    const { r } = this;
    expect(await r.clientGetName(), null, "CLIENT GETNAME before SETNAME");
    expect(await r.clientSetName("smoke-node-redis"), "OK", "CLIENT SETNAME");
    expect(await r.clientGetName(), "smoke-node-redis", "CLIENT GETNAME");
    await expectError(r.clientSetName("a b"), "ERR Client names cannot contain spaces", "SETNAME with a space");
    const named = await this.client({ name: "from-option" });
    expect(await named.clientGetName(), "from-option", "name option (CLIENT SETNAME or HELLO SETNAME)");
    expectTrue(Number.isInteger(await r.clientId()), "CLIENT ID");
  }

  async info() {
    const { r } = this;
    await r.set(this.k("info"), "x", { EX: 1000 });
    await this.expectInfo(port, async (section) =>
      String(section === undefined ? await r.info() : await r.info(section)),
    );
  }

  async config() {
    const { r } = this;
    expect({ ...(await r.configGet("maxmemory")) }, { maxmemory: "0" }, "CONFIG GET maxmemory");
    const many = await r.configGet("*max-*-entries*");
    expectTrue("hash-max-listpack-entries" in many, `CONFIG GET glob: ${util.inspect(many)}`);
    expect({ ...(await r.configGet("no-such-param")) }, {}, "CONFIG GET of an unknown parameter");
    expect(await r.configSet("hz", "20"), "OK", "CONFIG SET");
    expect({ ...(await r.configGet("hz")) }, { hz: "20" }, "CONFIG GET after SET");
    await r.configSet("hz", "10");
  }

  async types() {
    const { r } = this;
    const k = (n) => this.k(n);
    const commands = await r.sendCommand(["COMMAND", "LIST"]);
    if (commands.includes("hset")) {
      expect(await r.hSet(k("h"), { f1: "v1", f2: "v2" }), 2, "HSET object");
      expect({ ...(await r.hGetAll(k("h"))) }, { f1: "v1", f2: "v2" }, "HGETALL");
      expect(String(await r.hIncrByFloat(k("h"), "n", 1.5)), "1.5", "HINCRBYFLOAT");
    }
    if (commands.includes("rpush")) {
      expect(await r.rPush(k("l"), ["a", "b", "c"]), 3, "RPUSH");
      expect(await r.lRange(k("l"), 0, -1), ["a", "b", "c"], "LRANGE");
    }
    if (commands.includes("sadd")) {
      expect(await r.sAdd(k("set"), ["a", "b"]), 2, "SADD");
      expect([...(await r.sMembers(k("set")))].sort(), ["a", "b"], "SMEMBERS");
    }
    if (commands.includes("zadd")) {
      expect(await r.zAdd(k("z"), [{ score: 1.5, value: "a" }, { score: 2, value: "b" }]), 2, "ZADD");
      const withScores = (await r.zRangeWithScores(k("z"), 0, -1)).map((e) => ({ ...e }));
      expect(withScores, [{ value: "a", score: 1.5 }, { value: "b", score: 2 }], "ZRANGE WITHSCORES");
      expect(await r.zScore(k("z"), "a"), 1.5, "ZSCORE");
    }
  }
}

/**
 * A server started with `requirepass smoke-secret`: node-redis authenticates with AUTH
 * (or HELLO 3 AUTH), and connect() rejects with an ErrorReply on a wrong or missing one.
 */
async function checkAuth(protocol) {
  const connect = async (password) => {
    const c = redis.createClient({
      socket: { host: "127.0.0.1", port: authPort, connectTimeout: 5000, reconnectStrategy: false },
      password,
      ...(major >= 5 ? { RESP: protocol } : {}),
    });
    c.on("error", () => {});
    try {
      await c.connect();
      return { reply: await c.ping() };
    } catch (error) {
      return { error };
    } finally {
      if (c.isOpen) await c.disconnect();
    }
  };
  expect(await connect(PASSWORD), { reply: "PONG" }, "PING after authenticating");
  for (const [password, code] of [["wrong", "WRONGPASS"], [undefined, "NOAUTH"]]) {
    const { error } = await connect(password);
    expectTrue(
      error instanceof ErrorReply && error.message.startsWith(code),
      `password ${password}: expected a ${code} ErrorReply, got ${util.inspect(error)}`,
    );
  }
}

common.main({ setup, protocols, Run, checkAuth, connectedTo: (run) => `server side ${run.laddr}` });
