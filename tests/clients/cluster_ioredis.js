#!/usr/bin/env node
// ioredis `Redis.Cluster` against a running cluster:
// `node tests/clients/cluster_ioredis.js PORT,PORT,... [MODULE]` runs the workload;
// `node tests/clients/cluster_ioredis.js PORT,PORT,... [MODULE] --reconnect-loop N [--host H]
// [--fresh-client]` runs seed 000's loop instead.
//
// MODULE is `ioredis` (5.x, RESP2) or `ioredis-v6` (6.x, run in RESP2 and RESP3). PORTs are
// the cluster's nodes on 127.0.0.1, every one of them a primary.
//
// The workload is what an application does with a cluster client: its slot map (CLUSTER
// SLOTS) checked against CLUSTER NODES and CLUSTER INFO; SET/GET over keys of every node;
// MSET/MGET on one hash tag (and CROSSSLOT without one); INCR; a hash, a list, a set and a
// sorted set; a pipeline of same-slot keys; MULTI/EXEC on one hash tag; EVAL with a key;
// PUBLISH on each node reaching a cluster subscriber; SCAN on each primary; and a slot moved
// behind the client's back (MIGRATE and CLUSTER SETSLOT over plain connections), which the
// client must follow on the MOVED it gets. Exits 0 when every check passed; on the first
// failure prints the check and exits 1.
//
// Seed 000's loop (`--reconnect-loop N`): N times, a lazy Cluster on HOST (default
// 127.0.0.1; seed 000 used `localhost`) and the first node's port connects, SETs,
// `disconnect()`s and at once `connect()`s again, then SETs again. With `--fresh-client`
// the second connect is a new Cluster's (what an application does to work around the
// bug). It prints one line `RESULT {json}`: how many iterations ended each way (`ok`, or
// the error's message), and exits 0 whatever they were: the caller decides what is right.
"use strict";

const util = require("node:util");
const common = require("./common");
const { expect, expectTrue, CheckFailed, Inbox } = common;

const SLOTS = 16384;

function usage() {
  console.error(
    "usage: cluster_ioredis.js PORT,PORT,... [ioredis|ioredis-v6] " +
      "[--reconnect-loop N [--host HOST] [--fresh-client]]",
  );
  process.exit(2);
}

function takeOption(args, name, hasValue) {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const [, value] = args.splice(at, hasValue ? 2 : 1);
  return hasValue ? value : true;
}

const args = process.argv.slice(2);
const loopOption = takeOption(args, "--reconnect-loop", true);
const loopHost = takeOption(args, "--host", true) || "127.0.0.1";
const freshClient = takeOption(args, "--fresh-client", false) || false;
const ports = (args[0] || "").split(",").map(Number);
const moduleName = args[1] || "ioredis";
if (ports.length === 0 || !ports.every((p) => Number.isInteger(p) && p > 0)) usage();
const iterations = loopOption === undefined ? undefined : Number(loopOption);
if (iterations !== undefined && !(Number.isInteger(iterations) && iterations > 0)) usage();

let Redis;
let version;
try {
  Redis = require(moduleName);
  version = require(`${moduleName}/package.json`).version;
} catch (e) {
  console.error(`${moduleName} is not installed (${e.message.split("\n")[0]}): run scripts/test`);
  process.exit(2);
}
const major = Number(version.split(".")[0]);
const calculateSlot = require("cluster-key-slot");
const ReplyError = Redis.ReplyError;
const expectError = common.errorCheck(ReplyError, "a ReplyError");

// A hung server must fail the run, not hang it.
setTimeout(() => {
  console.error(`FAIL ${moduleName} ${version}: timed out after 90s`);
  process.exit(1);
}, 90_000).unref();

const startupNodes = (host) => ports.map((port) => ({ host, port }));

/** A plain (not cluster) connection to one node, for what the test does behind the client's back. */
function plain(port) {
  const c = new Redis({ host: "127.0.0.1", port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on("error", () => {});
  return c;
}

/** CLUSTER INFO's `key:value` lines as an object. */
function parseClusterInfo(text) {
  const fields = {};
  for (const line of text.split("\r\n").filter(Boolean)) {
    const colon = line.indexOf(":");
    expectTrue(colon > 0, `CLUSTER INFO line is not key:value: ${util.inspect(line)}`);
    fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** CLUSTER NODES as rows: id, port, flags, and the slots each serves. */
function parseClusterNodes(text) {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const cols = line.split(" ");
      expectTrue(cols.length >= 8, `CLUSTER NODES line has 8 columns or more: ${util.inspect(line)}`);
      const [hostPort] = cols[1].split("@");
      const slots = [];
      for (const range of cols.slice(8)) {
        if (range.startsWith("[")) continue; // a slot being migrated
        const [from, to] = range.split("-").map(Number);
        slots.push([from, to === undefined ? from : to]);
      }
      return {
        id: cols[0],
        port: Number(hostPort.slice(hostPort.lastIndexOf(":") + 1)),
        flags: cols[2].split(","),
        configEpoch: Number(cols[6]),
        linkState: cols[7],
        slots,
      };
    });
}

/** MIGRATEs every key of `slot` (`key` among them) from the node `from` is connected to, to `to`. */
async function migrateSlot(from, to, slot, key) {
  // Every key of the slot, as a reshard moves them: other keys may share the slot.
  const keys = await from.cluster("GETKEYSINSLOT", slot, 1000);
  expectTrue(keys.includes(key), `CLUSTER GETKEYSINSLOT ${slot} lists ${key}: ${util.inspect(keys)}`);
  expect(await from.migrate("127.0.0.1", to.port, "", 0, 5000, "KEYS", ...keys), "OK", "MIGRATE");
}

class Workload {
  constructor(protocol) {
    this.protocol = protocol;
    this.prefix = `cluster:ioredis:${process.pid}:${moduleName}:${protocol}:`;
    this.closers = [];
  }

  k(name) {
    return this.prefix + name;
  }

  options(extra = {}) {
    return {
      lazyConnect: true,
      // Give up on a lost node instead of retrying forever: a dropped connection is a bug here.
      clusterRetryStrategy: () => null,
      redisOptions: {
        connectTimeout: 5000,
        ...(major >= 6 ? { protocol: this.protocol } : {}),
      },
      ...extra,
    };
  }

  async cluster(extra) {
    const c = new Redis.Cluster(startupNodes("127.0.0.1"), this.options(extra));
    c.on("error", () => {}); // surfaced by the failing command instead
    await c.connect();
    this.closers.push(() => c.quit().catch(() => c.disconnect()));
    return c;
  }

  async close() {
    await Promise.all(this.closers.map((close) => close()));
  }

  /** The node key (`host:port`) ioredis routes `slot` to. */
  ownerOf(slot) {
    const keys = this.c.slots[slot];
    expectTrue(Array.isArray(keys) && keys.length > 0, `ioredis knows no node for slot ${slot}`);
    return keys[0];
  }

  async topology() {
    this.c = await this.cluster();
    const { c } = this;
    expect(c.status, "ready", "status after connect");
    const masters = c.nodes("master");
    expect(masters.length, ports.length, "ioredis found every primary");
    const info = parseClusterInfo(await c.cluster("INFO"));
    expect(info.cluster_state, "ok", "CLUSTER INFO cluster_state");
    expect(info.cluster_slots_assigned, String(SLOTS), "CLUSTER INFO cluster_slots_assigned");
    expect(info.cluster_known_nodes, String(ports.length), "CLUSTER INFO cluster_known_nodes");
    expect(info.cluster_size, String(ports.length), "CLUSTER INFO cluster_size");
    this.nodes = parseClusterNodes(await c.cluster("NODES"));
    expect(this.nodes.length, ports.length, "CLUSTER NODES has a line per node");
    expect(this.nodes.filter((n) => n.flags.includes("myself")).length, 1, "one node is myself");
    let covered = 0;
    for (const node of this.nodes) {
      expectTrue(node.flags.includes("master"), `every node is a master: ${node.flags}`);
      expect(node.linkState, "connected", "link state");
      expectTrue(ports.includes(node.port), `CLUSTER NODES port ${node.port} is one of ${ports}`);
      for (const [from, to] of node.slots) {
        covered += to - from + 1;
        // ioredis's map, from CLUSTER SLOTS, agrees with CLUSTER NODES at both ends of the range.
        for (const slot of [from, to]) {
          expect(this.ownerOf(slot), `127.0.0.1:${node.port}`, `slot ${slot} in ioredis's map vs CLUSTER NODES`);
        }
      }
    }
    expect(covered, SLOTS, "CLUSTER NODES covers every slot");
    const slotsReply = await c.cluster("SLOTS");
    let inSlots = 0;
    for (const [from, to, [host, port]] of slotsReply) {
      inSlots += to - from + 1;
      expect([host, this.ownerOf(from)], ["127.0.0.1", `${host}:${port}`], `CLUSTER SLOTS range from ${from}`);
    }
    expect(inSlots, SLOTS, "CLUSTER SLOTS covers every slot");
    expect(await c.cluster("KEYSLOT", "foo"), calculateSlot("foo"), "CLUSTER KEYSLOT agrees with the client");
  }

  /** SET and GET of 300 keys, which spread over every node; DEL and EXISTS sent per key. */
  async strings() {
    const { c } = this;
    const keys = Array.from({ length: 300 }, (_, i) => this.k(`s:${i}`));
    const owners = new Set(keys.map((key) => this.ownerOf(calculateSlot(key))));
    expect(owners.size, ports.length, "the keys spread over every node");
    expect(await Promise.all(keys.map((key, i) => c.set(key, `v${i}`))), keys.map(() => "OK"), "300 SETs");
    expect(await Promise.all(keys.map((key) => c.get(key))), keys.map((_, i) => `v${i}`), "300 GETs");
    expect(await c.get(this.k("missing")), null, "GET of a missing key");
    expect(await c.set(keys[0], "again", "NX"), null, "SET NX of an existing key");
    expect(await c.incr(this.k("counter")), 1, "INCR");
    expect(await c.incrby(this.k("counter"), 41), 42, "INCRBY");
    await expectError(c.incr(keys[1]), "ERR value is not an integer", "INCR of a non-number");
    expect(await c.del(keys[2]), 1, "DEL");
    expect(await c.exists(keys[2]), 0, "EXISTS after DEL");
    this.stringKeys = keys.filter((_, i) => i !== 2);
  }

  /** MSET/MGET on one hash tag; without one, the server refuses the keys of several slots. */
  async multiKey() {
    const { c } = this;
    const tagged = ["a", "b", "c"].map((n) => `{${this.k("user")}}:${n}`);
    expect(new Set(tagged.map(calculateSlot)).size, 1, "hash-tagged keys share a slot");
    expect(await c.mset(tagged[0], "1", tagged[1], "2", tagged[2], "3"), "OK", "MSET on a hash tag");
    expect(await c.mget(tagged), ["1", "2", "3"], "MGET on a hash tag");
    expect(await c.del(tagged[0], tagged[1]), 2, "DEL of two keys on a hash tag");
    const apart = [this.k("x"), this.k("y"), this.k("z")];
    expectTrue(new Set(apart.map(calculateSlot)).size > 1, "untagged keys in several slots");
    await expectError(c.mget(apart), "CROSSSLOT", "MGET across slots");
  }

  async types() {
    const { c } = this;
    const h = this.k("h");
    expect(await c.hset(h, "f1", "v1", "f2", "v2"), 2, "HSET");
    expect(await c.hgetall(h), { f1: "v1", f2: "v2" }, "HGETALL");
    expect(await c.hincrby(h, "n", 5), 5, "HINCRBY");
    const l = this.k("l");
    expect(await c.rpush(l, "a", "b", "c"), 3, "RPUSH");
    expect(await c.lrange(l, 0, -1), ["a", "b", "c"], "LRANGE");
    expect(await c.lpop(l), "a", "LPOP");
    const s = this.k("set");
    expect(await c.sadd(s, "x", "y", "x"), 2, "SADD");
    expect((await c.smembers(s)).sort(), ["x", "y"], "SMEMBERS");
    const z = this.k("z");
    expect(await c.zadd(z, 1, "one", 2, "two", 3, "three"), 3, "ZADD");
    expect(await c.zrange(z, 0, -1, "WITHSCORES"), ["one", "1", "two", "2", "three", "3"], "ZRANGE WITHSCORES");
    expect(await c.zincrby(z, 10, "one"), "11", "ZINCRBY");
    expect(await c.type(z), "zset", "TYPE");
  }

  /** A pipeline of keys on one slot, then one of keys on one node's slots mixed with an error. */
  async pipeline() {
    const { c } = this;
    const tag = `{${this.k("p")}}`;
    let p = c.pipeline();
    for (let i = 0; i < 100; i++) p.set(`${tag}:${i}`, String(i));
    expect(await p.exec(), Array.from({ length: 100 }, () => [null, "OK"]), "100 pipelined SETs");
    p = c.pipeline();
    for (let i = 0; i < 100; i++) p.get(`${tag}:${i}`);
    expect(await p.exec(), Array.from({ length: 100 }, (_, i) => [null, String(i)]), "100 pipelined GETs");
    const replies = await c.pipeline().set(`${tag}:t`, "x").incr(`${tag}:t`).get(`${tag}:t`).exec();
    expectTrue(replies[1][0] instanceof ReplyError, `an error in a pipeline comes in its place: ${util.inspect(replies)}`);
    expect(replies[2], [null, "x"], "the pipeline goes on after an error");
  }

  /** MULTI/EXEC on one hash tag, a failed command in it, and DISCARD. */
  async transaction() {
    const { c } = this;
    const tag = `{${this.k("tx")}}`;
    expect(
      await c.multi().set(`${tag}:a`, "1").incr(`${tag}:a`).mget(`${tag}:a`, `${tag}:b`).exec(),
      [[null, "OK"], [null, 2], [null, ["2", null]]],
      "MULTI/EXEC on a hash tag",
    );
    const replies = await c.multi().set(`${tag}:s`, "text").incr(`${tag}:s`).exec();
    expect(replies[0], [null, "OK"], "EXEC's first reply");
    expectTrue(replies[1][0] instanceof ReplyError, `EXEC gives a failed command's error in its place: ${util.inspect(replies)}`);
  }

  async scripting() {
    const { c } = this;
    const key = this.k("lua");
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[1], ARGV[2])";
    expect(await c.eval(script, 1, key, "10", "5"), 15, "EVAL with a key");
    expect(await c.get(key), "15", "what the script wrote");
    c.defineCommand("addTo", { numberOfKeys: 1, lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])" });
    expect(await c.addTo(key, 5), 20, "a defined command (EVALSHA, then EVAL on NOSCRIPT)");
    const tag = `{${this.k("lua2")}}`;
    expect(
      await c.eval("return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}", 2, `${tag}:a`, `${tag}:b`),
      [1, 1],
      "EVAL with two keys on a hash tag",
    );
  }

  /** A cluster subscriber gets what PUBLISH sends on any node; PUBLISH counts that node's subscribers. */
  async pubsub() {
    const sub = await this.cluster();
    const inbox = new Inbox();
    sub.on("message", (channel, message) => inbox.push(channel, message));
    const channel = this.k("news");
    expect(await sub.subscribe(channel), 1, "subscribe() on the cluster");
    const counts = [];
    for (const [i, node] of this.c.nodes("master").entries()) {
      counts.push(await node.publish(channel, `from node ${i}`));
    }
    expect(counts.reduce((a, b) => a + b, 0), 1, `PUBLISH counts the subscriber on its node only: ${counts}`);
    // Each message reaches the subscriber's node over the cluster bus on its own: in
    // any order, on a real cluster too.
    expect(
      (await inbox.take(ports.length, "a message from every node")).sort(),
      ports.map((_, i) => [channel, `from node ${i}`]).sort(),
      "PUBLISH on every node reaches the subscriber",
    );
    const viaCluster = await this.c.publish(channel, "via the cluster");
    expectTrue(viaCluster === 0 || viaCluster === 1, `PUBLISH through the cluster client: ${viaCluster}`);
    expect(await inbox.take(1, "the message"), [[channel, "via the cluster"]], "PUBLISH through the cluster client");
    expect(await sub.unsubscribe(channel), 0, "unsubscribe()");
    await this.c.publish(channel, "after unsubscribe");
    await inbox.expectQuiet("nothing after unsubscribe()");
  }

  /** SCAN on each primary (scanStream per node), together, sees every key written. */
  async scan() {
    const seen = new Set();
    for (const node of this.c.nodes("master")) {
      const stream = node.scanStream({ match: this.k("s:*"), count: 50 });
      for await (const batch of stream) for (const key of batch) seen.add(key);
    }
    expect([...seen].sort(), [...this.stringKeys].sort(), "per-node SCAN saw every key");
    const sizes = await Promise.all(this.c.nodes("master").map((node) => node.dbsize()));
    expectTrue(sizes.every((n) => n > 0), `every primary holds keys: ${sizes}`);
  }

  /**
   * A slot moved from its node to another over plain connections (SETSLOT IMPORTING and
   * MIGRATING, MIGRATE, SETSLOT NODE on every node): the client, still routing to the old
   * node, follows the MOVED it gets and updates its map.
   */
  async moved() {
    const { c } = this;
    const key = this.k("moved");
    const slot = calculateSlot(key);
    expect(await c.set(key, "before"), "OK", "SET before the move");
    const byPort = new Map(this.nodes.map((n) => [n.port, n]));
    const source = byPort.get(Number(this.ownerOf(slot).split(":")[1]));
    const target = this.nodes.find((n) => n !== source);
    const conns = new Map(this.nodes.map((n) => [n.port, plain(n.port)]));
    try {
      const on = (node) => conns.get(node.port);
      expect(await on(target).cluster("SETSLOT", slot, "IMPORTING", source.id), "OK", "SETSLOT IMPORTING");
      expect(await on(source).cluster("SETSLOT", slot, "MIGRATING", target.id), "OK", "SETSLOT MIGRATING");
      await migrateSlot(on(source), target, slot, key);
      for (const node of [target, source, ...this.nodes.filter((n) => n !== source && n !== target)]) {
        expect(await on(node).cluster("SETSLOT", slot, "NODE", target.id), "OK", `SETSLOT NODE on ${node.port}`);
      }
      expect(this.ownerOf(slot), `127.0.0.1:${source.port}`, "the client has not seen the move");
      expect(await c.get(key), "before", "GET after the move (MOVED followed)");
      expect(this.ownerOf(slot), `127.0.0.1:${target.port}`, "the client's map follows the MOVED");
      expect(await c.set(key, "after"), "OK", "SET after the move");
      expectTrue((await on(target).cluster("COUNTKEYSINSLOT", slot)) >= 1, "the key is on the new node");
      expect(await on(source).cluster("COUNTKEYSINSLOT", slot), 0, "and no longer on the old one");
      await expectError(on(source).get(key), `MOVED ${slot} 127.0.0.1:${target.port}`, "the old node redirects");
      // Put the slot back, so a rerun of the workload starts from the split it expects.
      expect(await on(source).cluster("SETSLOT", slot, "IMPORTING", target.id), "OK", "SETSLOT IMPORTING back");
      expect(await on(target).cluster("SETSLOT", slot, "MIGRATING", source.id), "OK", "SETSLOT MIGRATING back");
      await migrateSlot(on(target), source, slot, key);
      for (const node of [source, target, ...this.nodes.filter((n) => n !== source && n !== target)]) {
        expect(await on(node).cluster("SETSLOT", slot, "NODE", source.id), "OK", `SETSLOT NODE back on ${node.port}`);
      }
      expect(await c.get(key), "after", "GET after the move back");
      expect(this.ownerOf(slot), `127.0.0.1:${source.port}`, "the map follows the move back");
    } finally {
      await Promise.all([...conns.values()].map((conn) => conn.quit().catch(() => conn.disconnect())));
    }
  }
}

const CHECKS = ["topology", "strings", "multiKey", "types", "pipeline", "transaction", "scripting", "scan", "moved", "pubsub"];

async function workload() {
  const started = Date.now();
  const protocols = major >= 6 ? [2, 3] : [2];
  for (const protocol of protocols) {
    const where = `${moduleName} ${version} cluster ${ports.join(",")} RESP${protocol}`;
    const run = new Workload(protocol);
    for (const name of CHECKS) {
      try {
        await run[name]();
      } catch (e) {
        console.error(`FAIL ${where} check ${name}: ${e instanceof CheckFailed ? e.message : util.inspect(e)}`);
        await run.close().catch(() => {});
        return 1;
      }
    }
    await run.close();
    console.log(`ok   ${where}: ${CHECKS.join(", ")}`);
  }
  console.log(`${moduleName}: all cluster checks passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return 0;
}

/** Resolves once the client has said "end" (all its connections closed), or after 2 s. */
function ended(c) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    c.once("end", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function loopClient() {
  const c = new Redis.Cluster([{ host: loopHost, port: ports[0] }], { lazyConnect: true });
  c.on("error", () => {});
  return c;
}

/** Closes `c` and waits for its "end" if it has connections to close. */
async function closeLoopClient(c) {
  const open = ["connecting", "connect", "ready"].includes(c.status);
  const end = ended(c);
  c.disconnect();
  if (open) await end;
}

async function reconnectLoop() {
  const outcomes = {};
  for (let i = 0; i < iterations; i++) {
    const key = `cluster:loop:${process.pid}:${i}`;
    const first = loopClient();
    let second = first;
    let outcome = "ok";
    try {
      await first.connect();
      expect(await first.set(key, "1"), "OK", "SET after connect()");
      first.disconnect();
      if (freshClient) second = loopClient();
      await second.connect();
      expect(await second.set(key, "2"), "OK", "SET after the second connect()");
    } catch (e) {
      outcome = e.message;
    }
    outcomes[outcome] = (outcomes[outcome] || 0) + 1;
    await closeLoopClient(first);
    if (second !== first) await closeLoopClient(second);
  }
  console.log(`RESULT ${JSON.stringify(outcomes)}`);
  return 0;
}

(iterations === undefined ? workload() : reconnectLoop()).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`FAIL ${moduleName}: ${util.inspect(e)}`);
    process.exit(1);
  },
);
