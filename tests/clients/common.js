// What the node smoke scripts share: their command line, loading the client package under
// test, the checks, INFO parsing, the IPv6 probe, the steps of the WATCH, pub/sub and INFO
// checks that both libraries word alike, the list of checks and the loop that runs them over
// every address and protocol. Each script adds only its client's own workload.
"use strict";

const net = require("node:net");
const util = require("node:util");

const PASSWORD = "smoke-secret";

/**
 * `SCRIPT PORT [MODULE] [--auth-port PORT]`: the ports, the package to load (default
 * `defaultModule`), and the loaded package with its version. Exits 2 on bad usage or a
 * missing package, with a message that says how to install it.
 */
function setup(script, defaultModule, choices) {
  const args = process.argv.slice(2);
  let authPort;
  const authAt = args.indexOf("--auth-port");
  if (authAt >= 0) authPort = Number(args.splice(authAt, 2)[1]);
  const port = Number(args[0]);
  const moduleName = args[1] || defaultModule;
  if (!Number.isInteger(port) || port <= 0 || (authPort !== undefined && !Number.isInteger(authPort))) {
    console.error(`usage: ${script} PORT [${choices}] [--auth-port PORT (requirepass ${PASSWORD})]`);
    process.exit(2);
  }
  let lib;
  let version;
  try {
    lib = require(moduleName);
    version = require(`${moduleName}/package.json`).version;
  } catch (e) {
    console.error(
      `${moduleName} is not installed (${e.message.split("\n")[0]}): run scripts/test, ` +
        "or npm ci --prefix tests/clients",
    );
    process.exit(2);
  }
  // A hung server must fail the run, not hang it.
  setTimeout(() => {
    console.error(`FAIL ${moduleName} ${version}: timed out after 60s`);
    process.exit(1);
  }, 60_000).unref();
  return { port, authPort, moduleName, lib, version, major: Number(version.split(".")[0]) };
}

class CheckFailed extends Error {}

function expect(got, want, what) {
  if (!util.isDeepStrictEqual(got, want)) {
    throw new CheckFailed(`${what}: expected ${util.inspect(want)}, got ${util.inspect(got)}`);
  }
}

function expectTrue(cond, what) {
  if (!cond) throw new CheckFailed(what);
}

/** An `expectError(promise, contains, what)` for the client's server-error class. */
function errorCheck(ErrorClass, name) {
  return async function expectError(promise, contains, what) {
    let got;
    try {
      got = await promise;
    } catch (e) {
      if (!(e instanceof ErrorClass)) {
        throw new CheckFailed(`${what}: expected ${name}, got ${util.inspect(e)}`);
      }
      if (!e.message.includes(contains)) {
        throw new CheckFailed(`${what}: error ${util.inspect(e.message)} lacks ${util.inspect(contains)}`);
      }
      return e;
    }
    throw new CheckFailed(`${what}: expected ${name}, got the reply ${util.inspect(got)}`);
  };
}

/**
 * What a subscriber's listeners received, in arrival order, one array per message.
 * `take(count, what)` waits for the next `count` of them with a deadline, so a message that
 * never comes fails the check instead of hanging the run; `expectQuiet(what)` waits a moment
 * and fails if anything more arrived.
 */
class Inbox {
  constructor() {
    this.received = [];
    this.wake = () => {};
  }

  push(...message) {
    this.received.push(message);
    this.wake();
  }

  async take(count, what, ms = 5000) {
    const deadline = Date.now() + ms;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const got = util.inspect(this.received);
        throw new CheckFailed(`${what}: ${count} message(s) expected within ${ms}ms, got ${got}`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = () => {};
    }
    return this.received.splice(0, count);
  }

  async expectQuiet(what, ms = 100) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    expect(this.received, [], what);
  }
}

/** Every line of INFO is a `# Section` header, empty, or `key:value`. */
function parseInfo(text) {
  const fields = {};
  for (const line of text.split("\r\n")) {
    if (line === "" || line.startsWith("# ")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new CheckFailed(`INFO line is not key:value: ${util.inspect(line)}`);
    fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Whether this host has an IPv6 loopback to test `::1` on. */
function hasIpv6Loopback() {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(0, "::1", () => probe.close(() => resolve(true)));
  });
}

/**
 * One pass of the checks against one address in one protocol: a key prefix unique to the
 * pass and the clients it opened, closed together at its end. A script's subclass adds
 * `create(options)` (an unconnected client of its library), `close()`, `clientList(c)`
 * and every check, which calls the steps below for what both libraries word alike (their
 * `set`, `get`, `watch`, `multi().exec()`, `publish` take the same arguments); the
 * library's own calls, and the replies only one library gives, stay in its script.
 */
class SmokeRun {
  constructor(client, moduleName, host, protocol) {
    this.host = host;
    this.protocol = protocol;
    this.prefix = `smoke:${client}:${process.pid}:${moduleName}:${host}:${protocol}:`;
    this.clients = [];
  }

  k(name) {
    return this.prefix + name;
  }

  async client(options = {}) {
    const c = this.create(options);
    c.on("error", () => {}); // surfaced by the failing command instead
    await c.connect();
    this.clients.push(c);
    return c;
  }

  /** 50 clients at once: no INCR lost, no reply read by the wrong connection. */
  async concurrency() {
    const counter = this.k("counter");
    const workers = await Promise.all(Array.from({ length: 50 }, () => this.client()));
    await Promise.all(
      workers.map(async (c, n) => {
        const own = this.k(`worker:${n}`);
        for (let i = 0; i < 20; i++) {
          await c.incr(counter);
          await c.set(own, String(i));
          const got = await c.get(own);
          if (got !== String(i)) throw new CheckFailed(`worker ${n} read ${got}, wrote ${i}`);
        }
      }),
    );
    expect(await this.r.get(counter), "1000", "INCR count over 50 concurrent clients");
    const list = await this.clientList(this.r);
    expectTrue(list.split("\n").filter(Boolean).length >= 51, "CLIENT LIST shows every client");
  }

  /**
   * WATCH the way an application retries with it, on a second connection that it returns:
   * a write by `this.r` aborts the watched transaction, which writes nothing; watching again
   * lets the retry through; UNWATCH forgets the key. `execReplies(replies)` is EXEC's reply
   * in the library's shape, `expectAborted(exec)` checks how the library reports the abort.
   */
  async watchAndRetry(key, { execReplies, expectAborted }) {
    const { r } = this;
    const watcher = await this.client();
    await r.set(key, "10");
    expect(await watcher.watch(key), "OK", "WATCH");
    expect(await r.set(key, "100"), "OK", "another connection changes the watched key");
    await expectAborted(watcher.multi().set(key, "11").exec());
    expect(await r.get(key), "100", "the failed transaction wrote nothing");
    expect(await watcher.watch(key), "OK", "WATCH again");
    const current = Number(await watcher.get(key));
    expect(await watcher.multi().set(key, String(current + 1)).exec(), execReplies(["OK"]), "the retry");
    expect(await r.get(key), "101", "the retry wrote");
    expect(await watcher.watch(key), "OK", "WATCH before UNWATCH");
    expect(await watcher.unwatch(), "OK", "UNWATCH");
    await r.set(key, "200");
    expect(await watcher.multi().get(key).exec(), execReplies(["200"]), "exec() after UNWATCH");
    return watcher;
  }

  /** A name under the pub/sub check's own prefix. */
  ps(name) {
    return this.k(`ps:${name}`);
  }

  /** The pub/sub check's channels: `pattern` matches `news` and `nightly`, not `other` or `quiet`. */
  get channels() {
    return {
      news: this.ps("news"),
      other: this.ps("other"),
      pattern: this.ps("n*"),
      nightly: this.ps("nightly"),
      quiet: this.ps("quiet"),
    };
  }

  /**
   * With `news` and `other` subscribed and `pattern` pattern-subscribed, PUBLISH counts the
   * receivers and the subscriber's `inbox` gets each message, non-ASCII ones intact.
   */
  async expectDeliveries(inbox) {
    const { r } = this;
    const { news, other, pattern, nightly, quiet } = this.channels;
    expect(await r.publish(news, "hello"), 2, "PUBLISH to a channel subscribed and matched by a pattern");
    // Redis delivers to the channel's subscribers first, then to the matching patterns.
    expect(
      await inbox.take(2, "the message and the pmessage"),
      [["message", news, "hello"], ["pmessage", pattern, news, "hello"]],
      "the channel's listener, then the pattern's",
    );
    expect(await r.publish(other, "hé\0llo"), 1, "PUBLISH to the other channel");
    expect(await inbox.take(1, "the message"), [["message", other, "hé\0llo"]], "a non-ASCII message");
    expect(await r.publish(nightly, "n"), 1, "PUBLISH matched by the pattern only");
    expect(await inbox.take(1, "the pmessage"), [["pmessage", pattern, nightly, "n"]], "the pattern's listener");
    expect(await r.publish(quiet, "x"), 0, "PUBLISH to a channel nobody listens to");
  }

  /** RESP3: messages are push frames, so the subscriber `sub` keeps taking every command. */
  async expectCommandsWhileSubscribed(sub, inbox) {
    const { news, pattern } = this.channels;
    const key = this.ps("key");
    expect(await sub.ping(), "PONG", "PING while subscribed (RESP3)");
    expect(await sub.set(key, "v"), "OK", "SET while subscribed (RESP3)");
    expect(await sub.get(key), "v", "GET while subscribed (RESP3)");
    expect(await this.r.publish(news, "between"), 2, "PUBLISH between the subscriber's commands");
    expect(await sub.get(key), "v", "GET after a push (RESP3)");
    expect(
      await inbox.take(2, "the pushed messages"),
      [["message", news, "between"], ["pmessage", pattern, news, "between"]],
      "pushes among replies",
    );
  }

  /**
   * Once `news` is unsubscribed, the pattern alone receives it, and 200 messages published
   * back to back arrive in order. `publishBurst(channel, messages)` publishes them the
   * library's way of batching and checks its replies.
   */
  async expectPatternAlone(inbox, publishBurst) {
    const { news, pattern, nightly } = this.channels;
    expect(await this.r.publish(news, "again"), 1, "PUBLISH after unsubscribing reaches the pattern only");
    expect(await inbox.take(1, "the pmessage"), [["pmessage", pattern, news, "again"]], "the pattern still matches");
    const burst = Array.from({ length: 200 }, (_, i) => String(i));
    await publishBurst(nightly, burst);
    expect(
      await inbox.take(200, "200 pmessages"),
      burst.map((message) => ["pmessage", pattern, nightly, message]),
      "200 messages, in order",
    );
  }

  /**
   * INFO, with no section and in each section a client asks for, is `# Section` headers and
   * `key:value` lines, and says what a client reads in it. `infoText(section)` is the
   * library's INFO reply as text (no section when `undefined`); the server listens on `port`
   * and its db0 holds a key with a TTL.
   */
  async expectInfo(port, infoText) {
    for (const section of [undefined, "all", "everything", "server", "keyspace", "commandstats"]) {
      const text = await infoText(section);
      expectTrue(typeof text === "string" && text.startsWith("# "), `INFO ${section ?? ""} is text`);
      parseInfo(text);
    }
    const server = parseInfo(await infoText("server"));
    expect(server.redis_version, "7.0.15", "INFO redis_version");
    expect(server.tcp_port, String(port), "INFO tcp_port");
    const keyspace = parseInfo(await infoText("keyspace"));
    expectTrue(/^keys=\d+,expires=\d+,avg_ttl=\d+$/.test(keyspace.db0), `INFO db0: ${keyspace.db0}`);
  }
}

/** The methods of a script's `Run` class, in the order they run; `handshake` must come first. */
const CHECKS = [
  "handshake",
  "strings",
  "errors",
  "keys",
  "scan",
  "select",
  "pipeline",
  "transactions",
  "pubsub",
  "concurrency",
  "clientName",
  "info",
  "config",
  "types",
];

function describe(e) {
  return e instanceof CheckFailed ? e.message : util.inspect(e);
}

/**
 * Runs every check of `new Run(host, protocol)` over 127.0.0.1, `localhost` and (when the
 * host has it) ::1, in each of `protocols`, then `checkAuth(protocol)` against the
 * `requirepass` server when there is one. `connectedTo(run)` says, for the `ok` line, which
 * address the run ended up on. Resolves to the exit code: 0, or 1 at the first failure.
 */
async function runSuite({ setup, protocols, Run, checkAuth, connectedTo }) {
  const { moduleName, version, port, authPort } = setup;
  const started = Date.now();
  const hosts = ["127.0.0.1", "localhost"];
  if (await hasIpv6Loopback()) hosts.push("::1");
  for (const host of hosts) {
    for (const protocol of protocols) {
      const where = `${moduleName} ${version} ${host}:${port} RESP${protocol}`;
      const run = new Run(host, protocol);
      for (const name of CHECKS) {
        try {
          await run[name]();
        } catch (e) {
          console.error(`FAIL ${where} check ${name}: ${describe(e)}`);
          await run.close().catch(() => {});
          return 1;
        }
      }
      await run.close();
      console.log(`ok   ${where} (${connectedTo(run)}): ${CHECKS.join(", ")}`);
    }
  }
  if (authPort !== undefined) {
    for (const protocol of protocols) {
      const where = `${moduleName} ${version} 127.0.0.1:${authPort} RESP${protocol} requirepass`;
      try {
        await checkAuth(protocol);
      } catch (e) {
        console.error(`FAIL ${where} check auth: ${describe(e)}`);
        return 1;
      }
      console.log(`ok   ${where}: auth`);
    }
  }
  console.log(`${moduleName}: all checks passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return 0;
}

/** Runs the suite and exits with its code; anything thrown outside a check fails the run. */
function main(suite) {
  runSuite(suite).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`FAIL ${suite.setup.moduleName}: ${util.inspect(e)}`);
      process.exit(1);
    },
  );
}

module.exports = {
  PASSWORD,
  SmokeRun,
  CHECKS,
  main,
  setup,
  CheckFailed,
  expect,
  expectTrue,
  errorCheck,
  Inbox,
};
