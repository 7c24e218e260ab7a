#!/usr/bin/env node
// node-redis `createCluster` against a running cluster:
// `node tests/clients/cluster_node_redis.js PORT,PORT,... [MODULE]`.
//
// MODULE is `redis` (4.x, RESP2) or `redis-v6` (6.x, run in RESP2 and RESP3). PORTs are the
// cluster's nodes on 127.0.0.1, every one of them a primary.
//
// The workload is what an application does with a cluster client: its slot map (CLUSTER
// SLOTS) checked against CLUSTER NODES and CLUSTER INFO of every node (parsed by node-redis
// 4, by this script for 6, which returns the text); SET/GET over keys of every node;
// MSET/MGET on one hash tag (and CROSSSLOT without one); INCR; a hash, a list, a set and a
// sorted set; a pipeline (`execAsPipeline`) and MULTI/EXEC on one hash tag; EVAL with a key;
// PUBLISH on each node reaching a cluster subscriber; SCAN on each primary; and a slot moved
// behind the client's back (MIGRATE and CLUSTER SETSLOT over plain connections), which the
// client must follow on the MOVED it gets. Exits 0 when every check passed; on the first
// failure prints the check and exits 1.
"use strict";

const util = require("node:util");
const common = require("./common");
const { expect, expectTrue, CheckFailed, Inbox } = common;

const SLOTS = 16384;
const args = process.argv.slice(2);
const ports = (args[0] || "").split(",").map(Number);
const moduleName = args[1] || "redis";
if (ports.length === 0 || !ports.every((p) => Number.isInteger(p) && p > 0)) {
  console.error("usage: cluster_node_redis.js PORT,PORT,... [redis|redis-v6]");
  process.exit(2);
}

let redis;
let version;
try {
  redis = require(moduleName);
  version = require(`${moduleName}/package.json`).version;
} catch (e) {
  console.error(`${moduleName} is not installed (${e.message.split("\n")[0]}): run scripts/test`);
  process.exit(2);
}
const major = Number(version.split(".")[0]);
const calculateSlot = require("cluster-key-slot");
const { ErrorReply } = redis;
const expectError = common.errorCheck(ErrorReply, "an ErrorReply");

// A hung server must fail the run, not hang it.
setTimeout(() => {
  console.error(`FAIL ${moduleName} ${version}: timed out after 90s`);
  process.exit(1);
}, 90_000).unref();

/** node-redis 4 yields one key per step of scanIterator, 5 and later a batch. */
async function collect(iterator) {
  const keys = [];
  for await (const item of iterator) {
    if (Array.isArray(item)) keys.push(...item);
    else keys.push(item);
  }
  return keys;
}

/** CLUSTER INFO's `key:value` lines as an object. */
function parseClusterInfo(text) {
  const fields = {};
  for (const line of String(text).split("\r\n").filter(Boolean)) {
    const colon = line.indexOf(":");
    expectTrue(colon > 0, `CLUSTER INFO line is not key:value: ${util.inspect(line)}`);
    fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** CLUSTER NODES in node-redis 4's shape: id, port, flags, linkState, slots [{from, to}]. */
function parseClusterNodes(text) {
  return String(text)
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const cols = line.split(" ");
      expectTrue(cols.length >= 8, `CLUSTER NODES line has 8 columns or more: ${util.inspect(line)}`);
      const [hostPort] = cols[1].split("@");
      return {
        id: cols[0],
        port: Number(hostPort.slice(hostPort.lastIndexOf(":") + 1)),
        flags: cols[2].split(","),
        linkState: cols[7],
        slots: cols
          .slice(8)
          .filter((r) => !r.startsWith("["))
          .map((r) => {
            const [from, to] = r.split("-").map(Number);
            return { from, to: to === undefined ? from : to };
          }),
      };
    });
}

class Workload {
  constructor(protocol) {
    this.protocol = protocol;
    this.prefix = `cluster:node-redis:${process.pid}:${moduleName}:${protocol}:`;
    this.closers = [];
  }

  k(name) {
    return this.prefix + name;
  }

  async cluster() {
    const c = redis.createCluster({
      rootNodes: ports.map((port) => ({ socket: { host: "127.0.0.1", port } })),
      defaults: {
        socket: { connectTimeout: 5000, reconnectStrategy: false },
        ...(major >= 5 ? { RESP: this.protocol } : {}),
      },
      ...(major >= 5 ? { RESP: this.protocol } : {}),
    });
    c.on("error", () => {}); // surfaced by the failing command instead
    await c.connect();
    this.closers.push(() => c.quit().catch(() => c.disconnect()));
    return c;
  }

  /** A plain client of one node, for what the test does behind the cluster client's back. */
  async plain(port) {
    const c = redis.createClient({
      socket: { host: "127.0.0.1", port, connectTimeout: 5000, reconnectStrategy: false },
      ...(major >= 5 ? { RESP: this.protocol } : {}),
    });
    c.on("error", () => {});
    await c.connect();
    return c;
  }

  async close() {
    await Promise.all(this.closers.map((close) => close()));
  }

  /** The port node-redis routes `slot` to. */
  ownerOf(slot) {
    const shard = this.c.slots[slot];
    expectTrue(shard && shard.master, `node-redis knows no node for slot ${slot}`);
    return shard.master.port;
  }

  async topology() {
    this.c = await this.cluster();
    const { c } = this;
    // node-redis 4 lists a primary once per slot range it serves.
    expect([...new Set(c.masters.map((m) => m.port))].sort(), [...ports].sort(), "node-redis found every primary");
    expect(c.replicas ? c.replicas.length : 0, 0, "no replicas");
    this.ids = new Map();
    for (const master of c.masters) {
      const node = await c.nodeClient(master);
      const rawInfo = await node.clusterInfo();
      // node-redis 4 parses CLUSTER INFO; 6 returns its text.
      if (major < 5) {
        expect(rawInfo.state, "ok", "clusterInfo().state");
        expect(rawInfo.slots.assigned, SLOTS, "clusterInfo().slots.assigned");
        expect(rawInfo.knownNodes, ports.length, "clusterInfo().knownNodes");
        expect(rawInfo.size, ports.length, "clusterInfo().size");
      } else {
        const info = parseClusterInfo(rawInfo);
        expect(info.cluster_state, "ok", "CLUSTER INFO cluster_state");
        expect(info.cluster_slots_assigned, String(SLOTS), "cluster_slots_assigned");
        expect(info.cluster_known_nodes, String(ports.length), "cluster_known_nodes");
      }
      const rawNodes = await node.clusterNodes();
      const nodes = major < 5 ? rawNodes : parseClusterNodes(rawNodes);
      expect(nodes.length, ports.length, `CLUSTER NODES of ${master.port} has a line per node`);
      let covered = 0;
      for (const n of nodes) {
        expect(n.linkState, "connected", "link state");
        expectTrue(n.flags.includes("master"), `every node is a master: ${n.flags}`);
        if (n.flags.includes("myself")) {
          expect(n.port, master.port, "myself is the node asked");
          expect(n.id, master.id, "node-redis's id of the node (CLUSTER SLOTS) vs CLUSTER NODES");
        }
        this.ids.set(n.port, n.id);
        for (const { from, to } of n.slots) {
          covered += to - from + 1;
          for (const slot of [from, to]) {
            expect(this.ownerOf(slot), n.port, `slot ${slot} in node-redis's map vs CLUSTER NODES`);
          }
        }
      }
      expect(covered, SLOTS, "CLUSTER NODES covers every slot");
    }
    expect(this.ids.size, ports.length, "every node has an id");
  }

  /** SET and GET of 300 keys, which spread over every node. */
  async strings() {
    const { c } = this;
    const keys = Array.from({ length: 300 }, (_, i) => this.k(`s:${i}`));
    expect(new Set(keys.map((key) => this.ownerOf(calculateSlot(key)))).size, ports.length, "keys on every node");
    expect(await Promise.all(keys.map((key, i) => c.set(key, `v${i}`))), keys.map(() => "OK"), "300 SETs");
    expect(await Promise.all(keys.map((key) => c.get(key))), keys.map((_, i) => `v${i}`), "300 GETs");
    expect(await c.get(this.k("missing")), null, "GET of a missing key");
    expect(await c.set(keys[0], "again", { NX: true }), null, "SET NX of an existing key");
    expect(await c.incr(this.k("counter")), 1, "INCR");
    expect(await c.incrBy(this.k("counter"), 41), 42, "INCRBY");
    await expectError(c.incr(keys[1]), "ERR value is not an integer", "INCR of a non-number");
    expect(await c.del(keys[2]), 1, "DEL");
    expect(await c.exists(keys[2]), 0, "EXISTS after DEL");
    this.stringKeys = keys.filter((_, i) => i !== 2);
  }

  async multiKey() {
    const { c } = this;
    const tagged = ["a", "b", "c"].map((n) => `{${this.k("user")}}:${n}`);
    expect(new Set(tagged.map(calculateSlot)).size, 1, "hash-tagged keys share a slot");
    expect(await c.mSet([[tagged[0], "1"], [tagged[1], "2"], [tagged[2], "3"]]), "OK", "MSET on a hash tag");
    expect(await c.mGet(tagged), ["1", "2", "3"], "MGET on a hash tag");
    const apart = ["x", "y", "z"].map((n) => this.k(`apart:${n}`));
    expectTrue(new Set(apart.map(calculateSlot)).size > 1, "untagged keys in several slots");
    if (major >= 5) {
      // node-redis 5 and later split a multi-key command by slot themselves.
      expect(await c.mSet(apart.map((key) => [key, key])), "OK", "MSET across slots, split by the client");
      expect(await c.mGet(apart), apart, "MGET across slots, split by the client");
    }
    // Sent as one command to the node of its first key, the server refuses keys of several slots.
    const node = await c.nodeClient(c.slots[calculateSlot(apart[0])].master);
    await expectError(node.sendCommand(["MGET", ...apart]), "CROSSSLOT", "MGET across slots");
  }

  async types() {
    const { c } = this;
    const h = this.k("h");
    expect(await c.hSet(h, { f1: "v1", f2: "v2" }), 2, "HSET");
    expect({ ...(await c.hGetAll(h)) }, { f1: "v1", f2: "v2" }, "HGETALL");
    expect(await c.hIncrBy(h, "n", 5), 5, "HINCRBY");
    const l = this.k("l");
    expect(await c.rPush(l, ["a", "b", "c"]), 3, "RPUSH");
    expect(await c.lRange(l, 0, -1), ["a", "b", "c"], "LRANGE");
    expect(await c.lPop(l), "a", "LPOP");
    const s = this.k("set");
    expect(await c.sAdd(s, ["x", "y", "x"]), 2, "SADD");
    expect((await c.sMembers(s)).sort(), ["x", "y"], "SMEMBERS");
    const z = this.k("z");
    expect(await c.zAdd(z, [{ score: 1, value: "one" }, { score: 2, value: "two" }]), 2, "ZADD");
    expect(
      await c.zRangeWithScores(z, 0, -1),
      [{ value: "one", score: 1 }, { value: "two", score: 2 }],
      "ZRANGE WITHSCORES",
    );
    expect(await c.zIncrBy(z, 10, "one"), 11, "ZINCRBY");
    expect(await c.type(z), "zset", "TYPE");
  }

  /** `execAsPipeline` of keys on one hash tag, and 200 commands in flight over every node. */
  async pipeline() {
    const { c } = this;
    const tag = `{${this.k("p")}}`;
    let m = c.multi();
    for (let i = 0; i < 100; i++) m = m.set(`${tag}:${i}`, String(i));
    expect(await m.execAsPipeline(), Array.from({ length: 100 }, () => "OK"), "100 SETs in a pipeline");
    m = c.multi();
    for (let i = 0; i < 100; i++) m = m.get(`${tag}:${i}`);
    expect(await m.execAsPipeline(), Array.from({ length: 100 }, (_, i) => String(i)), "100 GETs in a pipeline");
    const keys = Array.from({ length: 200 }, (_, i) => this.k(`inflight:${i}`));
    await Promise.all(keys.map((key, i) => c.set(key, String(i))));
    expect(await Promise.all(keys.map((key) => c.get(key))), keys.map((_, i) => String(i)), "200 GETs in flight");
  }

  async transaction() {
    const { c } = this;
    const tag = `{${this.k("tx")}}`;
    expect(
      await c.multi().set(`${tag}:a`, "1").incr(`${tag}:a`).mGet([`${tag}:a`, `${tag}:b`]).exec(),
      ["OK", 2, ["2", null]],
      "MULTI/EXEC on a hash tag",
    );
    let failed;
    try {
      await c.multi().set(`${tag}:s`, "text").incr(`${tag}:s`).exec();
    } catch (e) {
      failed = e;
    }
    // node-redis rejects a transaction one of whose commands failed, with every reply.
    expectTrue(failed !== undefined, "EXEC with a failed command rejects");
    const replies = failed.replies;
    expectTrue(Array.isArray(replies) && replies[0] === "OK", `the replies: ${util.inspect(failed)}`);
    expectTrue(replies[1] instanceof ErrorReply, `the failed command's error in its place: ${util.inspect(replies)}`);
  }

  /**
   * EVAL with `keys` (and `args`). node-redis 4's cluster client sends EVAL to the wrong node
   * now and then and lets the -MOVED through (about 2 calls in 100, the same against a real
   * redis-server cluster): with 4 the script runs on the node its first key's slot names in
   * the client's own slot map.
   */
  async evalOn(script, keys, args = []) {
    const { c } = this;
    if (major >= 5) return c.eval(script, { keys, arguments: args });
    const node = await c.nodeClient(c.getSlotMaster(calculateSlot(keys[0])));
    return node.eval(script, { keys, arguments: args });
  }

  async scripting() {
    const { c } = this;
    const key = this.k("lua");
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[1], ARGV[2])";
    expect(await this.evalOn(script, [key], ["10", "5"]), 15, "EVAL with a key");
    expect(await c.get(key), "15", "what the script wrote");
    const tag = `{${this.k("lua2")}}`;
    expect(
      await this.evalOn("return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}", [
        `${tag}:a`,
        `${tag}:b`,
      ]),
      [1, 1],
      "EVAL with two keys on a hash tag",
    );
  }

  /** A cluster subscriber gets what PUBLISH sends on any node; PUBLISH counts that node's subscribers. */
  async pubsub() {
    const sub = await this.cluster();
    const inbox = new Inbox();
    const channel = this.k("news");
    await sub.subscribe(channel, (message, ch) => inbox.push(ch, message));
    const counts = [];
    for (const master of this.c.masters) {
      const node = await this.c.nodeClient(master);
      counts.push(await node.publish(channel, `from ${master.port}`));
    }
    expect(counts.reduce((a, b) => a + b, 0), 1, `PUBLISH counts the subscriber on its node only: ${counts}`);
    // Each message reaches the subscriber's node over the cluster bus on its own: in
    // any order, on a real cluster too.
    expect(
      (await inbox.take(counts.length, "a message from every node")).sort(),
      this.c.masters.map((m) => [channel, `from ${m.port}`]).sort(),
      "PUBLISH on every node reaches the subscriber",
    );
    const viaCluster = await this.c.publish(channel, "via the cluster");
    expectTrue(viaCluster === 0 || viaCluster === 1, `PUBLISH through the cluster client: ${viaCluster}`);
    expect(await inbox.take(1, "the message"), [[channel, "via the cluster"]], "PUBLISH through the cluster client");
    await sub.unsubscribe(channel);
    await this.c.publish(channel, "after unsubscribe");
    await inbox.expectQuiet("nothing after unsubscribe()");
  }

  /** SCAN on each primary's client, together, sees every key written. */
  async scan() {
    const seen = new Set();
    for (const master of this.c.masters) {
      const node = await this.c.nodeClient(master);
      for (const key of await collect(node.scanIterator({ MATCH: this.k("s:*"), COUNT: 50 }))) seen.add(key);
    }
    expect([...seen].sort(), [...this.stringKeys].sort(), "per-node SCAN saw every key");
  }

  /** A slot moved behind the client's back; the client follows the MOVED. */
  async moved() {
    const { c } = this;
    const key = this.k("moved");
    const slot = calculateSlot(key);
    expect(await c.set(key, "before"), "OK", "SET before the move");
    const source = this.ownerOf(slot);
    const target = ports.find((p) => p !== source);
    const others = ports.filter((p) => p !== source && p !== target);
    const conns = new Map();
    for (const port of ports) conns.set(port, await this.plain(port));
    try {
      await this.move(conns, slot, key, source, target, others);
      expect(this.ownerOf(slot), source, "the client has not seen the move");
      expect(await c.get(key), "before", "GET after the move (MOVED followed)");
      expect(this.ownerOf(slot), target, "the client's map follows the MOVED");
      expect(await c.set(key, "after"), "OK", "SET after the move");
      const count = (port) => conns.get(port).sendCommand(["CLUSTER", "COUNTKEYSINSLOT", String(slot)]);
      expectTrue((await count(target)) >= 1, "the key is on the new node");
      expect(await count(source), 0, "and no longer on the old one");
      await expectError(conns.get(source).get(key), `MOVED ${slot} 127.0.0.1:${target}`, "the old node redirects");
      // And back, so a rerun starts from the split it expects.
      await this.move(conns, slot, key, target, source, others);
      expect(await c.get(key), "after", "GET after the move back");
      expect(this.ownerOf(slot), source, "the map follows the move back");
    } finally {
      await Promise.all([...conns.values()].map((conn) => conn.quit().catch(() => conn.disconnect())));
    }
  }

  async move(conns, slot, key, source, target, others) {
    const on = (port, ...cmd) => conns.get(port).sendCommand(cmd.map(String));
    expect(await on(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", this.ids.get(source)), "OK", "SETSLOT IMPORTING");
    expect(await on(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", this.ids.get(target)), "OK", "SETSLOT MIGRATING");
    // Every key of the slot, as a reshard moves them: other keys may share the slot.
    const keys = await on(source, "CLUSTER", "GETKEYSINSLOT", slot, 1000);
    expectTrue(keys.includes(key), `CLUSTER GETKEYSINSLOT ${slot} lists ${key}: ${util.inspect(keys)}`);
    expect(await on(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", ...keys), "OK", "MIGRATE");
    for (const port of [target, source, ...others]) {
      expect(await on(port, "CLUSTER", "SETSLOT", slot, "NODE", this.ids.get(target)), "OK", `SETSLOT NODE on ${port}`);
    }
  }
}

const CHECKS = ["topology", "strings", "multiKey", "types", "pipeline", "transaction", "scripting", "scan", "moved", "pubsub"];

async function main() {
  const started = Date.now();
  const protocols = major >= 5 ? [2, 3] : [2];
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

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`FAIL ${moduleName}: ${util.inspect(e)}`);
    process.exit(1);
  },
);
