// What the node smoke scripts share: their command line, loading the client package under
// test, the checks, INFO parsing, the IPv6 probe, the list of checks and the loop that runs
// them over every address and protocol. Each script adds only its client's own workload.
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
 * and every check that its library words differently.
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
  parseInfo,
};
