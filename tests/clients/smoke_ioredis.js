#!/usr/bin/env node
// ioredis against a running server:
// `node tests/clients/smoke_ioredis.js PORT [MODULE] [--auth-port PORT]`.
//
// MODULE is the package to load: `ioredis` (5.x, RESP2 only) or `ioredis-v6` (6.x, which
// speaks RESP3 by default and is also run with `protocol: 2`). Runs the same workload over
// 127.0.0.1, `localhost` (whichever address Node resolves it to first) and ::1 (when the
// host has IPv6), the way an application uses ioredis: its handshake (CLIENT SETNAME,
// CLIENT SETINFO, the INFO ready check), pipelines, auto-pipelining, transactions (multi,
// watch, discard), pub/sub (a subscriber connection's events; in RESP3 commands on it while
// subscribed), scanStream and 50 clients at once. With --auth-port, also its AUTH handshake
// against a server started with `requirepass smoke-secret`. Exits 0 when every check
// passed; on the first failure prints which check, against which address and protocol, and
// exits 1. Keys and channels live under a prefix unique to this run.
"use strict";

const util = require("node:util");
const common = require("./common");
const { PASSWORD, expect, expectTrue } = common;

const setup = common.setup("smoke_ioredis.js", "ioredis", "ioredis|ioredis-v6");
const { port, authPort, moduleName, lib: Redis, major } = setup;
const protocols = major >= 6 ? [2, 3] : [2];
const ReplyError = Redis.ReplyError;
const expectError = common.errorCheck(ReplyError, "a ReplyError");
/** A transaction's or pipeline's replies as ioredis gives them: `[error, reply]` each. */
const execReplies = (replies) => replies.map((reply) => [null, reply]);

class Run extends common.SmokeRun {
  constructor(host, protocol) {
    super("ioredis", moduleName, host, protocol);
  }

  create(options) {
    return new Redis({
      host: this.host,
      port,
      lazyConnect: true,
      connectTimeout: 5000,
      // Fail instead of reconnecting: a dropped connection is a bug here.
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(major >= 6 ? { protocol: this.protocol } : {}),
      ...options,
    });
  }

  clientList(c) {
    return c.client("LIST");
  }

  async close() {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }

  async handshake() {
    this.r = await this.client();
    const r = this.r;
    expect(r.status, "ready", "status after connect (the INFO ready check passed)");
    this.remote = `${r.stream.remoteAddress}`;
    expect(await r.ping(), "PONG", "PING");
    expect(await r.ping("hé\0llo"), "hé\0llo", "PING with a message");
    const info = await r.client("INFO");
    expectTrue(info.includes(` resp=${this.protocol}`), `CLIENT INFO says resp=${this.protocol}: ${info}`);
    expectTrue(info.includes(`laddr=`) && info.includes(`:${port} `), `CLIENT INFO laddr: ${info}`);
  }

  async strings() {
    const { r } = this;
    const k = (n) => this.k(n);
    expect(await r.set(k("s"), "v1"), "OK", "SET");
    expect(await r.get(k("s")), "v1", "GET");
    expect(await r.get(k("missing")), null, "GET of a missing key");
    expect(await r.set(k("s"), "v2", "NX"), null, "SET NX on an existing key");
    expect(await r.set(k("s"), "v2", "XX", "GET"), "v1", "SET XX GET");
    expect(await r.set(k("s"), "v3", "EX", 100), "OK", "SET EX");
    const ttl = await r.ttl(k("s"));
    expectTrue(ttl > 95 && ttl <= 100, `TTL after SET EX 100: ${ttl}`);
    expect(await r.set(k("s"), "v4", "KEEPTTL"), "OK", "SET KEEPTTL");
    expectTrue((await r.ttl(k("s"))) > 0, "KEEPTTL kept the TTL");
    expect(await r.set(k("s"), "v5", "PX", 200000, "NX"), null, "SET PX NX on an existing key");
    expect(await r.set(k("s"), "v5", "XX", "PX", 200000), "OK", "SET XX PX");
    const pttl = await r.pttl(k("s"));
    expectTrue(pttl > 190000 && pttl <= 200000, `PTTL after SET PX: ${pttl}`);
    await expectError(r.set(k("s"), "v", "EX", 0), "invalid expire time in 'set' command", "SET EX 0");
    await expectError(r.set(k("s"), "v", "NX", "XX"), "syntax error", "SET NX XX");
    const binary = Buffer.from([0, 0xff, 13, 10, 0, 98]);
    await r.set(k("bin"), binary);
    expect(await r.getBuffer(k("bin")), binary, "binary-safe value");
    expect(await r.mset(k("m1"), "a", k("m2"), "b"), "OK", "MSET");
    expect(await r.mget(k("m1"), k("missing"), k("m2")), ["a", null, "b"], "MGET");
    expect(await r.incr(k("n")), 1, "INCR of a missing key");
    expect(await r.incrby(k("n"), 41), 42, "INCRBY");
    expect(await r.decrby(k("n"), 2), 40, "DECRBY");
    expect(await r.incrbyfloat(k("f"), "10.5"), "10.5", "INCRBYFLOAT");
    expect(await r.incrbyfloat(k("f"), "0.1"), "10.6", "INCRBYFLOAT again");
    expect(await r.incrbyfloat(k("f2"), "5.0e3"), "5000", "INCRBYFLOAT with an exponent");
    expect(await r.append(k("ap"), "Hello"), 5, "APPEND to a missing key");
    expect(await r.append(k("ap"), " World"), 11, "APPEND");
    expect(await r.getrange(k("ap"), 0, 4), "Hello", "GETRANGE");
    expect(await r.getrange(k("ap"), -5, -1), "World", "GETRANGE with negative offsets");
    expect(await r.strlen(k("ap")), 11, "STRLEN");
  }

  async errors() {
    const { r } = this;
    await r.set(this.k("text"), "abc");
    const e = await expectError(r.incr(this.k("text")), "value is not an integer", "INCR of text");
    expect(e.message, "ERR value is not an integer or out of range", "INCR error text");
    await expectError(r.incrbyfloat(this.k("text"), 1), "ERR value is not a valid float", "INCRBYFLOAT of text");
    await expectError(r.call("NOSUCHCMD", "x"), "ERR unknown command 'NOSUCHCMD'", "unknown command");
    await expectError(r.call("GET"), "ERR wrong number of arguments for 'get' command", "arity error");
    expect(await r.get(this.k("text")), "abc", "GET after errors");
    const commands = await r.command("LIST");
    if (commands.includes("lpush")) {
      await expectError(r.lpush(this.k("text"), "x"), "WRONGTYPE Operation against a key", "LPUSH on a string");
      await r.rpush(this.k("list"), "a");
      await expectError(r.get(this.k("list")), "WRONGTYPE", "GET on a list");
    }
  }

  async keys() {
    const { r } = this;
    const k = (n) => this.k(`keys:${n}`);
    await r.set(k("a"), "1");
    await r.set(k("b"), "2");
    expect(await r.exists(k("a"), k("b"), k("nope")), 2, "EXISTS");
    expect(await r.type(k("a")), "string", "TYPE");
    expect(await r.type(k("nope")), "none", "TYPE of a missing key");
    expect(await r.expire(k("a"), 100), 1, "EXPIRE");
    const ttl = await r.ttl(k("a"));
    expectTrue(ttl > 95 && ttl <= 100, `TTL after EXPIRE: ${ttl}`);
    expect(await r.expire(k("nope"), 100), 0, "EXPIRE of a missing key");
    expect(await r.ttl(k("nope")), -2, "TTL of a missing key");
    expect(await r.persist(k("a")), 1, "PERSIST");
    expect(await r.rename(k("a"), k("a2")), "OK", "RENAME");
    await expectError(r.rename(k("nope"), k("x")), "ERR no such key", "RENAME of a missing key");
    expect((await r.keys(k("*"))).sort(), [k("a2"), k("b")], "KEYS");
    expect(await r.del(k("a2"), k("b"), k("nope")), 2, "DEL");
    expect(await r.keys(k("*")), [], "KEYS after DEL");
  }

  async scan() {
    const { r } = this;
    const names = [];
    const p = r.pipeline();
    for (let i = 0; i < 250; i++) {
      names.push(this.k(`scan:${i}`));
      p.set(this.k(`scan:${i}`), "x");
    }
    await p.exec();
    const seen = new Set();
    await new Promise((resolve, reject) => {
      const stream = r.scanStream({ match: this.k("scan:*"), count: 20 });
      stream.on("data", (batch) => batch.forEach((key) => seen.add(key)));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect([...seen].sort(), [...names].sort(), "scanStream saw every key");
    const [cursor, batch] = await r.scan("0", "MATCH", this.k("scan:*"), "COUNT", 1000, "TYPE", "string");
    expectTrue(typeof cursor === "string" && Array.isArray(batch), "SCAN reply shape");
    expect(await r.del(...names), 250, "DEL of the scanned keys");
  }

  async select() {
    const other = await this.client({ db: 5 });
    await other.set(this.k("db5"), "five");
    expect(await this.r.get(this.k("db5")), null, "a key of db 5 is not in db 0");
    expect(await other.get(this.k("db5")), "five", "db: 5 connection sees its key");
    expect(await other.select(0), "OK", "SELECT 0");
    expect(await other.get(this.k("db5")), null, "after SELECT 0");
    await expectError(other.select(16), "ERR DB index is out of range", "SELECT 16");
  }

  async pipeline() {
    const { r } = this;
    let p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(this.k(`p:${i}`), i);
    let replies = await p.exec();
    expect(replies, Array.from({ length: 1000 }, () => [null, "OK"]), "1000 pipelined SETs");
    p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.get(this.k(`p:${i}`));
    replies = await p.exec();
    expect(replies, Array.from({ length: 1000 }, (_, i) => [null, String(i)]), "1000 pipelined GETs");
    replies = await r.pipeline().set(this.k("p:t"), "x").incr(this.k("p:t")).get(this.k("p:t")).exec();
    expectTrue(replies[1][0] instanceof ReplyError, `an error in a pipeline comes in its place: ${util.inspect(replies)}`);
    expect(replies[2], [null, "x"], "the command after the error ran");
    // Auto-pipelining: commands issued in one tick go out in one write.
    const auto = await this.client({ enableAutoPipelining: true });
    const gets = await Promise.all(Array.from({ length: 1000 }, (_, i) => auto.get(this.k(`p:${i}`))));
    expect(gets, Array.from({ length: 1000 }, (_, i) => String(i)), "1000 auto-pipelined GETs");
    expect(await r.del(...Array.from({ length: 1000 }, (_, i) => this.k(`p:${i}`))), 1000, "DEL");
  }

  async transactions() {
    const { r } = this;
    const k = (n) => this.k(`tx:${n}`);
    expect(
      await r.multi().set(k("n"), "1").incr(k("n")).get(k("n")).exec(),
      [[null, "OK"], [null, 2], [null, "2"]],
      "multi().set().incr().get().exec()",
    );
    // A run-time error fails its own command only: EXEC runs the others.
    const replies = await r.multi().set(k("s"), "text").incr(k("s")).append(k("s"), "!").get(k("s")).exec();
    const [incrError] = replies[1];
    expectTrue(
      incrError instanceof ReplyError && incrError.message === "ERR value is not an integer or out of range",
      `the INCR error comes in its place: ${util.inspect(replies)}`,
    );
    expect([replies[0], replies[2], replies[3]], [[null, "OK"], [null, 5], [null, "text!"]], "the others ran");
    // A command refused while queueing aborts the transaction: exec() rejects with EXECABORT.
    const aborted = await expectError(
      r.multi().set(k("abort"), "x").call("NOSUCHCMD", "y").exec(),
      "EXECABORT Transaction discarded because of previous errors.",
      "a refused command inside MULTI",
    );
    expectTrue(
      aborted.previousErrors?.length === 1 && aborted.previousErrors[0].message.startsWith("ERR unknown command 'NOSUCHCMD'"),
      `EXECABORT carries the queueing error: ${util.inspect(aborted.previousErrors)}`,
    );
    expect(await r.exists(k("abort")), 0, "EXECABORT ran nothing");
    // WATCH: another connection's write makes EXEC answer null.
    const watcher = await this.watchAndRetry(k("w"), {
      execReplies,
      expectAborted: async (exec) => expect(await exec, null, "exec() after the watched key changed"),
    });
    // MULTI without the pipeline: each command answers QUEUED, then DISCARD drops them.
    expect(await watcher.multi({ pipeline: false }), "OK", "multi({ pipeline: false })");
    expect(await watcher.set(k("d"), "x"), "QUEUED", "SET inside MULTI");
    expect(await watcher.discard(), "OK", "DISCARD");
    expect(await watcher.exists(k("d")), 0, "DISCARD dropped the queued SET");
    expect(await watcher.multi({ pipeline: false }), "OK", "multi({ pipeline: false }) again");
    expect(await watcher.incr(k("d")), "QUEUED", "INCR inside MULTI");
    expect(await watcher.exec(), [[null, 1]], "exec() of the queued INCR");
    // pipeline() stays non-transactional next to transactions.
    expect(
      await r.pipeline().set(k("p"), "1").incr(k("p")).get(k("p")).exec(),
      [[null, "OK"], [null, 2], [null, "2"]],
      "pipeline() after transactions",
    );
  }

  async pubsub() {
    const { r } = this;
    const k = (n) => this.ps(n);
    const { news, other, pattern, quiet } = this.channels;
    const numpat = await r.pubsub("NUMPAT");
    // A dedicated subscriber connection, as ioredis wants it.
    const sub = await this.client();
    const subId = await sub.client("ID");
    const inbox = new common.Inbox();
    sub.on("message", (channel, message) => inbox.push("message", channel, message));
    sub.on("pmessage", (pat, channel, message) => inbox.push("pmessage", pat, channel, message));
    sub.on("smessage", (channel, message) => inbox.push("smessage", channel, message));
    expect(await sub.subscribe(news, other), 2, "subscribe() resolves to the subscription count");
    expect(await sub.psubscribe(pattern), 3, "psubscribe() counts channels and patterns");
    const listed = await r.client("LIST", "ID", subId);
    expectTrue(
      listed.includes(" flags=P ") && listed.includes(" sub=2 psub=1 ssub=0 "),
      `CLIENT LIST of the subscriber: ${listed}`,
    );
    expect(await r.pubsub("NUMSUB", news, quiet), [news, 1, quiet, 0], "PUBSUB NUMSUB");
    expect((await r.pubsub("CHANNELS", k("*"))).sort(), [news, other].sort(), "PUBSUB CHANNELS of the run");
    expect(await r.pubsub("NUMPAT"), numpat + 1, "PUBSUB NUMPAT counts the pattern");

    await this.expectDeliveries(inbox);

    if (this.protocol === 2) {
      // RESP2 subscriber mode: PING is answered as a message (ioredis refuses the rest itself).
      expect(await sub.ping(), ["pong", ""], "PING in subscriber mode");
      expect(await sub.ping("still here"), ["pong", "still here"], "PING with a message in subscriber mode");
    } else {
      await this.expectCommandsWhileSubscribed(sub, inbox);
    }

    expect(await sub.unsubscribe(news), 2, "unsubscribe() resolves to the count left");
    await this.expectPatternAlone(inbox, async (channel, messages) => {
      const burst = r.pipeline();
      for (const message of messages) burst.publish(channel, message);
      expect(await burst.exec(), messages.map(() => [null, 1]), "200 pipelined PUBLISHes");
    });
    expect(await sub.unsubscribe(other), 1, "unsubscribe() of the other channel");
    expect(await sub.punsubscribe(pattern), 0, "punsubscribe()");
    expect(await r.publish(news, "gone"), 0, "PUBLISH after every unsubscribe");
    expect(await r.pubsub("NUMSUB", news), [news, 0], "PUBSUB NUMSUB after unsubscribe");

    expect(await sub.ssubscribe(k("shard")), 1, "ssubscribe()");
    expect(await r.spublish(k("shard"), "s"), 1, "SPUBLISH");
    expect(await inbox.take(1, "the smessage"), [["smessage", k("shard"), "s"]], "on('smessage')");
    expect(await r.pubsub("SHARDNUMSUB", k("shard")), [k("shard"), 1], "PUBSUB SHARDNUMSUB");
    expect(await r.pubsub("SHARDCHANNELS", k("*")), [k("shard")], "PUBSUB SHARDCHANNELS of the run");
    expect(await sub.sunsubscribe(k("shard")), 0, "sunsubscribe()");
    await inbox.expectQuiet("nothing else arrived");
    expect(await sub.get(k("missing")), null, "out of subscriber mode, any command");
    const after = await r.client("LIST", "ID", subId);
    expectTrue(after.includes(" sub=0 psub=0 ssub=0 "), `CLIENT LIST after unsubscribing: ${after}`);
  }

  async clientName() {
    const { r } = this;
    expect(await r.client("GETNAME"), null, "CLIENT GETNAME before SETNAME");
    expect(await r.client("SETNAME", "smoke-ioredis"), "OK", "CLIENT SETNAME");
    expect(await r.client("GETNAME"), "smoke-ioredis", "CLIENT GETNAME");
    await expectError(r.client("SETNAME", "a b"), "ERR Client names cannot contain spaces", "SETNAME with a space");
    const named = await this.client({ connectionName: "from-option" });
    expect(await named.client("GETNAME"), "from-option", "connectionName option");
    expectTrue(Number.isInteger(await r.client("ID")), "CLIENT ID");
  }

  async info() {
    const { r } = this;
    await r.set(this.k("info"), "x", "EX", 1000);
    await this.expectInfo(port, (section) => (section === undefined ? r.info() : r.info(section)));
  }

  async config() {
    const { r } = this;
    expect(await r.config("GET", "maxmemory"), ["maxmemory", "0"], "CONFIG GET maxmemory");
    const many = await r.config("GET", "*max-*-entries*");
    expectTrue(many.includes("hash-max-listpack-entries"), `CONFIG GET glob: ${many}`);
    expect(await r.config("GET", "no-such-param"), [], "CONFIG GET of an unknown parameter");
    expect(await r.config("SET", "hz", "20"), "OK", "CONFIG SET");
    expect(await r.config("GET", "hz"), ["hz", "20"], "CONFIG GET after SET");
    await r.config("SET", "hz", "10");
  }

  async types() {
    const { r } = this;
    const k = (n) => this.k(n);
    const commands = await r.command("LIST");
    if (commands.includes("hset")) {
      expect(await r.hset(k("h"), { f1: "v1", f2: "v2" }), 2, "HSET object");
      expect(await r.hgetall(k("h")), { f1: "v1", f2: "v2" }, "HGETALL");
      expect(await r.hincrbyfloat(k("h"), "n", 1.5), "1.5", "HINCRBYFLOAT");
    }
    if (commands.includes("rpush")) {
      expect(await r.rpush(k("l"), "a", "b", "c"), 3, "RPUSH");
      expect(await r.lrange(k("l"), 0, -1), ["a", "b", "c"], "LRANGE");
    }
    if (commands.includes("sadd")) {
      expect(await r.sadd(k("set"), "a", "b"), 2, "SADD");
      expect((await r.smembers(k("set"))).sort(), ["a", "b"], "SMEMBERS");
    }
    if (commands.includes("zadd")) {
      expect(await r.zadd(k("z"), 1.5, "a", 2, "b"), 2, "ZADD");
      expect(await r.zrange(k("z"), 0, -1, "WITHSCORES"), ["a", "1.5", "b", "2"], "ZRANGE WITHSCORES");
      expect(await r.zscore(k("z"), "a"), "1.5", "ZSCORE");
    }
  }
}

/**
 * A server started with `requirepass smoke-secret`: ioredis authenticates with AUTH (or
 * HELLO 3 AUTH), and a wrong or missing password surfaces as a ReplyError event.
 */
async function checkAuth(protocol) {
  const connect = async (password) => {
    const errors = [];
    const c = new Redis({
      host: "127.0.0.1",
      port: authPort,
      password,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(major >= 6 ? { protocol } : {}),
    });
    c.on("error", (e) => errors.push(e));
    let reply;
    try {
      await c.connect();
      reply = await c.ping();
    } catch (e) {
      errors.push(e);
    }
    c.disconnect();
    return { reply, errors };
  };
  expect((await connect(PASSWORD)).reply, "PONG", "PING after authenticating");
  for (const [password, code] of [["wrong", "WRONGPASS"], [undefined, "NOAUTH"]]) {
    const { reply, errors } = await connect(password);
    expectTrue(
      reply === undefined && errors.some((e) => e instanceof ReplyError && e.message.startsWith(code)),
      `password ${password}: expected a ${code} ReplyError, got ${util.inspect({ reply, errors })}`,
    );
  }
}

common.main({ setup, protocols, Run, checkAuth, connectedTo: (run) => `connected to ${run.remote}` });
