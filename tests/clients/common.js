// What the node smoke scripts share: their command line, loading the client package under
// test, the checks, INFO parsing and the IPv6 probe. Each script adds only its client's
// own workload.
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

function hasIpv6Loopback() {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(0, "::1", () => probe.close(() => resolve(true)));
  });
}

module.exports = {
  PASSWORD,
  setup,
  CheckFailed,
  expect,
  expectTrue,
  errorCheck,
  parseInfo,
  hasIpv6Loopback,
};
