#!/usr/bin/env python3
"""redis-py against a running server: `python3 tests/clients/smoke.py PORT [--auth-port PORT]`.

Runs the same workload over 127.0.0.1, `localhost` (whichever address that resolves to
first) and ::1 (when the host has IPv6), in RESP2 and in RESP3 (`protocol=3`), the way an
application uses redis-py: its own handshake (HELLO 3, CLIENT SETINFO), its reply parsers
(INFO, CONFIG GET, CLIENT INFO), pipelines, transactions (MULTI/EXEC pipelines, WATCH, the
transaction() helper), pub/sub (PubSub.get_message, PUBSUB introspection, a keyspace
notification), scripts (register_script) and functions (FUNCTION LOAD/DUMP/RESTORE,
FCALL), scan_iter, 50 redis.asyncio clients at once and a ConnectionPool shared by threads. With --auth-port, also the AUTH / HELLO 3 AUTH handshakes against a server started
with `requirepass smoke-secret`. Exits 0 when every check passed; on the first failure
prints which check, against which address and protocol, and exits 1.

Keys and channels live under a prefix unique to this run, so it can also be pointed at a
server in use (it changes `hz` and `notify-keyspace-events` and restores them).
"""

import asyncio
import faulthandler
import os
import socket
import sys
import threading
import time
import traceback

try:
    import redis
    import redis.asyncio
    import redis.backoff
    import redis.retry
except ImportError:
    print(
        "redis-py is not installed: run scripts/test, or "
        "python3 -m pip install -r tests/clients/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(2)


class CheckFailed(Exception):
    pass


def expect(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")


def expect_true(cond, what):
    if not cond:
        raise CheckFailed(what)


def expect_error(fn, contains, what):
    """The call must raise redis-py's ResponseError whose text contains `contains`."""
    try:
        got = fn()
    except redis.exceptions.ResponseError as e:
        if contains not in str(e):
            raise CheckFailed(f"{what}: error {str(e)!r} does not contain {contains!r}")
        return e
    raise CheckFailed(f"{what}: expected a ResponseError, got the reply {got!r}")


def text(value):
    """redis-py decodes some replies in RESP2 but not in RESP3 (CLIENT GETNAME)."""
    return value.decode() if isinstance(value, bytes) else value


def has_command(r, name):
    return name.lower() in {text(c) for c in r.command_list()}


def next_message(p, what, timeout=5.0):
    """The next message of a PubSub, waited for at most `timeout` seconds: a missing one
    fails the check instead of hanging it."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"{what}: no message within {timeout}s")
        message = p.get_message(timeout=left)
        if message is not None:
            return message


def pubsub_message(kind, channel, data, pattern=None):
    """A message as redis-py's PubSub.get_message() returns it."""
    encode = lambda v: v.encode() if isinstance(v, str) else v  # noqa: E731
    return {"type": kind, "pattern": encode(pattern), "channel": encode(channel), "data": encode(data)}


class Run:
    """One (address, protocol) pass of the workload."""

    def __init__(self, host, port, protocol):
        self.host = host
        self.port = port
        self.protocol = protocol
        self.prefix = f"smoke:py:{os.getpid()}:{host}:{protocol}:"
        self.r = self.client()

    def client(self, **kw):
        return redis.Redis(host=self.host, port=self.port, protocol=self.protocol, **kw)

    def k(self, name):
        return self.prefix + name

    def check_handshake(self):
        expect(self.r.ping(), True, "PING")
        info = self.r.client_info()
        expect(info.get("resp"), str(self.protocol), "CLIENT INFO resp= after the handshake")
        expect(self.r.echo("hé\x00llo"), "hé\x00llo".encode(), "ECHO of non-ASCII and NUL")
        if self.protocol == 3:
            hello = self.r.execute_command("HELLO", 3)
            hello = {k.decode() if isinstance(k, bytes) else k: v for k, v in hello.items()}
            expect(hello.get("proto"), 3, "HELLO 3 proto")
            expect(hello.get("version"), b"7.0.15", "HELLO 3 version")

    def check_strings(self):
        r, k = self.r, self.k
        expect(r.set(k("s"), "v1"), True, "SET")
        expect(r.get(k("s")), b"v1", "GET")
        expect(r.get(k("missing")), None, "GET of a missing key")
        expect(r.set(k("s"), "v2", nx=True), None, "SET NX on an existing key")
        expect(r.set(k("s"), "v2", xx=True, get=True), b"v1", "SET XX GET")
        expect(r.set(k("s2"), "x", xx=True), None, "SET XX on a missing key")
        expect(r.set(k("s"), "v3", ex=100), True, "SET EX")
        expect_true(95 <= r.ttl(k("s")) <= 100, "TTL after SET EX 100")
        expect(r.set(k("s"), "v4", keepttl=True), True, "SET KEEPTTL")
        expect_true(r.ttl(k("s")) > 0, "KEEPTTL kept the TTL")
        expect(r.set(k("s"), "v5", px=200000), True, "SET PX")
        expect_true(190000 <= r.pttl(k("s")) <= 200000, "PTTL after SET PX")
        expect(r.set(k("s"), "v6", exat=int(time.time()) + 1000), True, "SET EXAT")
        expect(r.set(k("s"), "v7", pxat=int(time.time() * 1000) + 1000000), True, "SET PXAT")
        expect(r.set(k("s"), "plain"), True, "SET without options")
        expect(r.ttl(k("s")), -1, "plain SET clears the TTL")
        expect_error(lambda: r.set(k("s"), "v", ex=0), "invalid expire time", "SET EX 0")
        binary = b"\x00\xff\r\n\x00bin"
        r.set(k("bin"), binary)
        expect(r.get(k("bin")), binary, "binary-safe value")
        expect(r.mset({k("m1"): "a", k("m2"): "b"}), True, "MSET")
        expect(r.mget([k("m1"), k("missing"), k("m2")]), [b"a", None, b"b"], "MGET")
        expect(r.msetnx({k("m1"): "x", k("m3"): "y"}), False, "MSETNX with one existing key")
        expect(r.incr(k("n")), 1, "INCR of a missing key")
        expect(r.incrby(k("n"), 41), 42, "INCRBY")
        expect(r.decr(k("n")), 41, "DECR")
        expect(r.incrbyfloat(k("f"), 10.5), 10.5, "INCRBYFLOAT")
        expect(r.incrbyfloat(k("f"), 0.1), 10.6, "INCRBYFLOAT again")
        expect(r.get(k("f")), b"10.6", "INCRBYFLOAT's stored text")
        expect(r.append(k("ap"), "Hello"), 5, "APPEND to a missing key")
        expect(r.append(k("ap"), " World"), 11, "APPEND")
        expect(r.getrange(k("ap"), 0, 4), b"Hello", "GETRANGE")
        expect(r.getrange(k("ap"), -5, -1), b"World", "GETRANGE with negative offsets")
        expect(r.setrange(k("ap"), 6, "Redis"), 11, "SETRANGE")
        expect(r.strlen(k("ap")), 11, "STRLEN")
        expect(r.getdel(k("ap")), b"Hello Redis", "GETDEL")
        expect(r.getex(k("m1"), ex=50), b"a", "GETEX EX")
        expect_true(0 < r.ttl(k("m1")) <= 50, "TTL after GETEX")

    def check_errors(self):
        r, k = self.r, self.k
        r.set(k("text"), "abc")
        e = expect_error(lambda: r.incr(k("text")), "value is not an integer", "INCR of text")
        expect(str(e), "value is not an integer or out of range", "INCR error text")
        expect_error(
            lambda: r.incrbyfloat(k("text"), 1), "value is not a valid float", "INCRBYFLOAT of text"
        )
        expect_error(lambda: r.execute_command("NOSUCHCMD", "x"), "unknown command", "unknown command")
        expect_error(
            lambda: r.execute_command("GET"), "wrong number of arguments for 'get'", "arity error"
        )
        # The connection stays usable after errors.
        expect(r.get(k("text")), b"abc", "GET after errors")
        if has_command(r, "LPUSH"):
            expect_error(lambda: r.lpush(k("text"), "x"), "WRONGTYPE", "LPUSH on a string")
            r.rpush(k("list"), "a")
            expect_error(lambda: r.get(k("list")), "WRONGTYPE", "GET on a list")
            expect_error(lambda: r.incr(k("list")), "WRONGTYPE", "INCR on a list")

    def check_keys(self):
        r = self.r

        def k(name):
            return self.k("keys:" + name)

        r.set(k("a"), "1")
        r.set(k("b"), "2")
        expect(r.exists(k("a"), k("b"), k("nope")), 2, "EXISTS")
        expect(r.type(k("a")), b"string", "TYPE of a string")
        expect(r.type(k("nope")), b"none", "TYPE of a missing key")
        expect(r.expire(k("a"), 100), True, "EXPIRE")
        expect_true(95 <= r.ttl(k("a")) <= 100, "TTL after EXPIRE")
        expect(r.expire(k("nope"), 100), False, "EXPIRE of a missing key")
        expect(r.ttl(k("nope")), -2, "TTL of a missing key")
        expect(r.persist(k("a")), True, "PERSIST")
        expect(r.ttl(k("a")), -1, "TTL after PERSIST")
        expect(r.rename(k("a"), k("a2")), True, "RENAME")
        expect(r.get(k("a2")), b"1", "GET of the renamed key")
        expect_error(lambda: r.rename(k("nope"), k("x")), "no such key", "RENAME of a missing key")
        expect(r.renamenx(k("a2"), k("b")), False, "RENAMENX onto an existing key")
        expect(sorted(r.keys(k("*"))), sorted([k("a2").encode(), k("b").encode()]), "KEYS")
        expect(r.delete(k("a2"), k("b"), k("nope")), 2, "DEL")
        expect(r.keys(k("*")), [], "KEYS after DEL")
        expect(r.unlink(k("nope")), 0, "UNLINK of a missing key")

    def check_scan(self):
        r, k = self.r, self.k
        names = {k(f"scan:{i}").encode() for i in range(250)}
        with r.pipeline(transaction=False) as p:
            for name in names:
                p.set(name, "x")
            p.execute()
        seen = list(r.scan_iter(match=k("scan:*"), count=20))
        expect(set(seen), names, "scan_iter(match, count) saw every key")
        cursor, batch = r.scan(0, match=k("scan:*"), count=1000)
        expect_true(isinstance(cursor, int), "SCAN cursor is an int")
        typed = list(r.scan_iter(match=k("scan:*"), _type="string"))
        expect(set(typed), names, "scan_iter(_type='string')")
        expect(r.delete(*names), 250, "DEL of the scanned keys")

    def check_select(self):
        other = self.client(db=5)
        try:
            other.set(self.k("db5"), "five")
            expect(self.r.get(self.k("db5")), None, "a key of db 5 is not in db 0")
            expect(other.get(self.k("db5")), b"five", "db=5 connection sees its key")
            expect(other.client_info().get("db"), 5, "CLIENT INFO db= after SELECT")
            expect(other.move(self.k("db5"), 0), True, "MOVE to db 0")
            expect(self.r.get(self.k("db5")), b"five", "the moved key is in db 0")
            expect_error(
                lambda: self.r.execute_command("SELECT", 16), "DB index is out of range", "SELECT 16"
            )
        finally:
            other.close()

    def check_pipeline(self):
        r, k = self.r, self.k
        with r.pipeline(transaction=False) as p:
            for i in range(1000):
                p.set(k(f"p:{i}"), i)
            replies = p.execute()
        expect(replies, [True] * 1000, "1000 pipelined SETs")
        with r.pipeline(transaction=False) as p:
            for i in range(1000):
                p.get(k(f"p:{i}"))
            replies = p.execute()
        expect(replies, [str(i).encode() for i in range(1000)], "1000 pipelined GETs")
        with r.pipeline(transaction=False) as p:
            p.set(k("p:text"), "x")
            p.incr(k("p:text"))
            p.get(k("p:text"))
            replies = p.execute(raise_on_error=False)
        expect_true(
            isinstance(replies[1], redis.exceptions.ResponseError),
            f"an error inside a pipeline comes back in its place, got {replies!r}",
        )
        expect(replies[2], b"x", "the command after the error ran")
        r.delete(*[k(f"p:{i}") for i in range(1000)])

    def check_transactions(self):
        """pipeline() is MULTI ... EXEC by default; WATCH through pipe.watch() and the
        transaction() helper, with a second connection changing the watched key."""
        r, k = self.r, self.k
        with r.pipeline() as p:
            p.set(k("tx:n"), 1).incr(k("tx:n")).get(k("tx:n")).rpush(k("tx:l"), "a", "b")
            replies = p.execute()
        expect(replies, [True, 2, b"2", 2], "pipeline() (MULTI ... EXEC) replies")
        expect(r.get(k("tx:n")), b"2", "GET after the transaction")

        with r.pipeline(transaction=True) as p:
            p.set(k("tx:s"), "text").incr(k("tx:s")).append(k("tx:s"), "!").get(k("tx:s"))
            try:
                got = p.execute()
            except redis.exceptions.ResponseError as e:
                got = e
        expect_true(
            isinstance(got, redis.exceptions.ResponseError)
            and "Command # 2 (INCR" in str(got)
            and "value is not an integer or out of range" in str(got),
            f"a run-time error inside EXEC raises the first error, annotated, got {got!r}",
        )
        expect(r.get(k("tx:s")), b"text!", "the commands around the failed one ran")
        with r.pipeline(transaction=True) as p:
            p.set(k("tx:s"), "text").incr(k("tx:s")).get(k("tx:s"))
            replies = p.execute(raise_on_error=False)
        expect(replies[0], True, "SET before the error (raise_on_error=False)")
        expect_true(
            isinstance(replies[1], redis.exceptions.ResponseError)
            and "value is not an integer or out of range" in str(replies[1]),
            f"the INCR error comes back in its place, got {replies!r}",
        )
        expect(replies[2], b"text", "GET after the error (raise_on_error=False)")
        # A command refused while queueing aborts the whole transaction (EXECABORT).
        with r.pipeline(transaction=True) as p:
            p.set(k("tx:abort"), "x").execute_command("NOSUCHCMD", "y")
            expect_error(p.execute, "unknown command 'NOSUCHCMD'", "a refused command inside MULTI")
        expect(r.exists(k("tx:abort")), 0, "EXECABORT ran nothing")

        other = self.client()
        try:
            r.set(k("tx:w"), 10)
            attempts = []
            with r.pipeline() as p:
                while True:
                    try:
                        p.watch(k("tx:w"))
                        current = int(p.get(k("tx:w")))
                        if not attempts:
                            other.set(k("tx:w"), 100)
                        p.multi()
                        p.set(k("tx:w"), current + 1)
                        attempts.append(p.execute())
                        break
                    except redis.WatchError:
                        attempts.append("WatchError")
            expect(attempts, ["WatchError", [True]], "watch/multi/execute: a WatchError, then the retry")
            expect(r.get(k("tx:w")), b"101", "the retry read the other connection's write")

            calls = []

            def add_one(pipe):
                current = int(pipe.get(k("tx:h")) or 0)
                if not calls:
                    other.incrby(k("tx:h"), 10)
                calls.append(current)
                pipe.multi()
                pipe.set(k("tx:h"), current + 1)
                pipe.get(k("tx:h"))

            expect(r.transaction(add_one, k("tx:h")), [True, b"11"], "transaction() replies")
            expect(calls, [0, 10], "transaction() ran its function again after the WatchError")
            got = r.transaction(lambda pipe: pipe.get(k("tx:h")), k("tx:h"), value_from_callable=True)
            expect(got, b"11", "transaction(value_from_callable=True) without multi()")
        finally:
            other.close()

    def check_pubsub(self):
        """r.pubsub(): SUBSCRIBE and PSUBSCRIBE confirmations, messages published from
        another connection with the exact receiver count, PING and UNSUBSCRIBE in subscribed
        mode, PUBSUB NUMSUB / CHANNELS / NUMPAT, and a keyspace notification of a SET."""
        r, k = self.r, self.k
        news, pattern = k("ps:news"), k("ps:n*")
        numpat = r.pubsub_numpat()
        p = r.pubsub()
        try:
            p.subscribe(news)
            expect(next_message(p, "SUBSCRIBE"), pubsub_message("subscribe", news, 1), "SUBSCRIBE reply")
            p.psubscribe(pattern)
            expect(
                next_message(p, "PSUBSCRIBE"), pubsub_message("psubscribe", pattern, 2), "PSUBSCRIBE reply"
            )
            expect(
                r.pubsub_numsub(news, k("ps:quiet")),
                [(news.encode(), 1), (k("ps:quiet").encode(), 0)],
                "PUBSUB NUMSUB",
            )
            expect(r.pubsub_channels(k("ps:*")), [news.encode()], "PUBSUB CHANNELS with the run's prefix")
            expect(r.pubsub_numpat(), numpat + 1, "PUBSUB NUMPAT counts the pattern")

            expect(r.publish(news, "hello"), 2, "PUBLISH to a channel subscribed and matched by a pattern")
            # Redis delivers to the channel's subscribers first, then to the matching patterns.
            expect(next_message(p, "message"), pubsub_message("message", news, "hello"), "the message")
            expect(
                next_message(p, "pmessage"),
                pubsub_message("pmessage", news, "hello", pattern),
                "the pmessage",
            )
            expect(r.publish(k("ps:nightly"), b"\x00bin\r\n"), 1, "PUBLISH matched by the pattern only")
            expect(
                next_message(p, "pmessage"),
                pubsub_message("pmessage", k("ps:nightly"), b"\x00bin\r\n", pattern),
                "a binary pmessage",
            )
            expect(r.publish(k("ps:quiet"), "x"), 0, "PUBLISH to a channel nobody listens to")
            p.ping()
            expect(next_message(p, "PING"), pubsub_message("pong", None, ""), "PING in subscribed mode")

            p.unsubscribe(news)
            expect(next_message(p, "UNSUBSCRIBE"), pubsub_message("unsubscribe", news, 1), "UNSUBSCRIBE")
            expect(r.publish(news, "again"), 1, "PUBLISH after UNSUBSCRIBE reaches the pattern only")
            expect(
                next_message(p, "pmessage"),
                pubsub_message("pmessage", news, "again", pattern),
                "the pmessage after UNSUBSCRIBE",
            )
            with r.pipeline(transaction=False) as pipe:
                for i in range(200):
                    pipe.publish(k("ps:nightly"), i)
                expect(pipe.execute(), [1] * 200, "200 pipelined PUBLISHes")
            burst = [next_message(p, f"pmessage {i} of 200")["data"] for i in range(200)]
            expect(burst, [str(i).encode() for i in range(200)], "200 messages, in order")
            p.punsubscribe(pattern)
            punsubscribed = next_message(p, "PUNSUBSCRIBE")
            expect(punsubscribed, pubsub_message("punsubscribe", pattern, 0), "PUNSUBSCRIBE reply")
            expect(r.publish(news, "gone"), 0, "PUBLISH after every unsubscribe")
            expect(r.pubsub_numsub(news), [(news.encode(), 0)], "PUBSUB NUMSUB after UNSUBSCRIBE")
            expect(r.pubsub_channels(k("ps:*")), [], "PUBSUB CHANNELS after UNSUBSCRIBE")
            expect(p.get_message(timeout=0.2), None, "nothing else arrived")
        finally:
            p.close()

        old = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
        events = r.pubsub()
        space = f"__keyspace@0__:{self.prefix}*"
        key = k("ps:key")
        try:
            expect(r.config_set("notify-keyspace-events", "KEA"), True, "CONFIG SET notify-keyspace-events")
            events.psubscribe(space)
            expect(next_message(events, "PSUBSCRIBE"), pubsub_message("psubscribe", space, 1), "PSUBSCRIBE")
            r.set(key, "v")
            expect(
                next_message(events, "keyspace event"),
                pubsub_message("pmessage", f"__keyspace@0__:{key}", "set", space),
                "the keyspace notification of SET",
            )
            expect(r.delete(key), 1, "DEL")
            expect(
                next_message(events, "keyspace event"),
                pubsub_message("pmessage", f"__keyspace@0__:{key}", "del", space),
                "the keyspace notification of DEL",
            )
            expect(events.get_message(timeout=0.2), None, "no other keyspace event")
        finally:
            events.close()
            r.config_set("notify-keyspace-events", old)
        restored = r.config_get("notify-keyspace-events")
        expect(restored, {"notify-keyspace-events": old}, "notify-keyspace-events restored")

    def check_concurrency(self):
        """50 clients at once with redis.asyncio, then a ConnectionPool shared by threads."""
        counter = self.k("counter")

        async def fifty_clients():
            clients = [
                redis.asyncio.Redis(host=self.host, port=self.port, protocol=self.protocol)
                for _ in range(50)
            ]

            async def worker(c, n):
                own = self.k(f"worker:{n}")
                for i in range(20):
                    await c.incr(counter)
                    await c.set(own, i)
                    got = await c.get(own)
                    if got != str(i).encode():
                        raise CheckFailed(f"worker {n} read {got!r} after writing {i}")

            try:
                await asyncio.gather(*(worker(c, n) for n, c in enumerate(clients)))
                listed = await clients[0].client_list()
                expect_true(len(listed) >= 50, f"CLIENT LIST shows 50 clients, got {len(listed)}")
            finally:
                for c in clients:
                    await c.aclose()

        asyncio.run(fifty_clients())
        expect(self.r.get(counter), b"1000", "INCR count over 50 concurrent clients")

        failures = []
        pool = redis.ConnectionPool(host=self.host, port=self.port, protocol=self.protocol)

        def thread_worker(n):
            try:
                c = redis.Redis(connection_pool=pool)
                for _ in range(25):
                    c.incr(counter)
            except Exception as e:  # reported below: a thread must not die silently
                failures.append(f"thread {n}: {e!r}")

        threads = [threading.Thread(target=thread_worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        pool.disconnect()
        expect(failures, [], "8 threads sharing a ConnectionPool")
        expect(self.r.get(counter), b"1200", "INCR count after the threads")

    def check_client_name(self):
        r = self.r
        expect(r.client_getname(), None, "CLIENT GETNAME before SETNAME")
        expect(r.client_setname("smoke-py"), True, "CLIENT SETNAME")
        expect(text(r.client_getname()), "smoke-py", "CLIENT GETNAME")
        expect(r.client_info().get("name"), "smoke-py", "CLIENT INFO name=")
        expect_error(lambda: r.client_setname("has space"), "cannot contain spaces", "SETNAME with a space")
        named = self.client(client_name="from-pool")
        try:
            expect(text(named.client_getname()), "from-pool", "client_name= connection option")
        finally:
            named.close()
        expect_true(isinstance(r.client_id(), int), "CLIENT ID")

    def check_info(self):
        r = self.r
        for section in (None, "server", "all", "everything", "commandstats", "keyspace"):
            args = () if section is None else (section,)
            info = r.info(*args)
            what = f"INFO {section or ''}".strip()
            expect_true(isinstance(info, dict) and info, f"{what} parses to a dict")
            # redis-py files any line that is not `key:value` under __raw__.
            expect(info.get("__raw__"), None, f"{what}: lines that are not key:value")
        server = r.info("server")
        expect(server.get("redis_version"), "7.0.15", "INFO redis_version")
        expect_true(isinstance(server.get("tcp_port"), int), "INFO tcp_port is an integer")
        expect_true(isinstance(server.get("uptime_in_seconds"), int), "INFO uptime is an integer")
        r.set(self.k("info"), "x", ex=1000)
        keyspace = r.info("keyspace")
        db0 = keyspace.get("db0")
        expect_true(isinstance(db0, dict), f"INFO keyspace db0 parses to a dict, got {db0!r}")
        expect_true(db0.get("keys", 0) >= 1 and db0.get("expires", 0) >= 1, f"db0 counts: {db0!r}")
        stats = r.info("commandstats")
        get = stats.get("cmdstat_get")
        expect_true(isinstance(get, dict) and get.get("calls", 0) > 0, f"cmdstat_get: {get!r}")
        clients = r.info("clients")
        expect_true(clients.get("connected_clients", 0) >= 1, "INFO connected_clients")
        memory = r.info("memory")
        expect_true(isinstance(memory.get("used_memory"), int), "INFO used_memory")

    def check_config(self):
        r = self.r
        expect(r.config_get("maxmemory"), {"maxmemory": "0"}, "CONFIG GET maxmemory")
        many = r.config_get("*max-*-entries*")
        expect_true(
            "hash-max-listpack-entries" in many, f"CONFIG GET with a glob, got {sorted(many)}"
        )
        expect(r.config_get("databases"), {"databases": "16"}, "CONFIG GET databases")
        expect(r.config_get("no-such-param"), {}, "CONFIG GET of an unknown parameter")
        old = r.config_get("hz")["hz"]
        expect(r.config_set("hz", 20), True, "CONFIG SET hz")
        expect(r.config_get("hz"), {"hz": "20"}, "CONFIG GET after SET")
        r.config_set("hz", old)
        expect_error(lambda: r.config_set("no-such-param", 1), "Unknown option", "CONFIG SET unknown")

    def check_types(self):
        """The aggregate replies that parse differently in RESP3 (maps, sets, doubles)."""
        r, k = self.r, self.k
        if has_command(r, "HSET"):
            expect(r.hset(k("h"), mapping={"f1": "v1", "f2": "v2"}), 2, "HSET mapping")
            expect(r.hgetall(k("h")), {b"f1": b"v1", b"f2": b"v2"}, "HGETALL")
            expect(r.hincrbyfloat(k("h"), "n", 1.5), 1.5, "HINCRBYFLOAT")
            expect(r.type(k("h")), b"hash", "TYPE of a hash")
        if has_command(r, "RPUSH"):
            expect(r.rpush(k("l"), "a", "b", "c"), 3, "RPUSH")
            expect(r.lrange(k("l"), 0, -1), [b"a", b"b", b"c"], "LRANGE")
            expect(r.lpop(k("l"), 2), [b"a", b"b"], "LPOP with a count")
        if has_command(r, "SADD"):
            expect(r.sadd(k("set"), "a", "b"), 2, "SADD")
            expect(r.smembers(k("set")), {b"a", b"b"}, "SMEMBERS")
        if has_command(r, "ZADD"):
            expect(r.zadd(k("z"), {"a": 1.5, "b": 2}), 2, "ZADD")
            # redis-py gives (member, score) tuples in RESP2 and [member, score] in RESP3.
            pairs = [tuple(p) for p in r.zrange(k("z"), 0, -1, withscores=True)]
            expect(pairs, [(b"a", 1.5), (b"b", 2.0)], "ZRANGE WITHSCORES")
            expect(r.zscore(k("z"), "a"), 1.5, "ZSCORE")
            expect(r.zincrby(k("z"), 1, "a"), 2.5, "ZINCRBY")

    def check_scripting(self):
        """Scripts through redis-py's Script objects (EVALSHA, then EVAL on NOSCRIPT) and
        functions: FUNCTION LOAD, FCALL, FCALL_RO, LIST, DUMP, RESTORE, DELETE."""
        r, k = self.r, self.k
        if not has_command(r, "EVAL"):
            return
        incr = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        r.script_flush()
        expect(incr(keys=[k("scripted")], args=[5]), 5, "a registered script after SCRIPT FLUSH")
        expect(incr(keys=[k("scripted")], args=[2]), 7, "a registered script, cached")
        expect(r.eval("return {1, 'two', {3}}", 0), [1, b"two", [3]], "EVAL of nested tables")
        expect_error(lambda: r.eval("return redis.call('nope')", 0), "Unknown Redis command", "an error inside EVAL")
        if not has_command(r, "FCALL"):
            return
        library = f"smoke_{os.getpid()}_{self.protocol}_{self.port}"
        code = (
            f"#!lua name={library}\n"
            f"redis.register_function('{library}_get', function(keys) return redis.call('GET', keys[1]) end)\n"
            f"redis.register_function{{function_name='{library}_ro', callback=function() return 'ro' end, flags={{'no-writes'}}}}"
        )
        expect(text(r.function_load(code)), library, "FUNCTION LOAD")
        expect_error(lambda: r.function_load(code), "already exists", "FUNCTION LOAD of a library that exists")
        r.set(k("fk"), "fv")
        expect(r.fcall(f"{library}_get", 1, k("fk")), b"fv", "FCALL")
        expect(r.fcall_ro(f"{library}_ro", 0), b"ro", "FCALL_RO of a no-writes function")
        listed = r.function_list(library=library)
        expect(len(listed), 1, "FUNCTION LIST LIBRARYNAME")
        dump = r.function_dump()
        expect(r.function_delete(library), True, "FUNCTION DELETE")
        expect_error(lambda: r.fcall(f"{library}_get", 1, k("fk")), "Function not found", "FCALL after DELETE")
        expect(r.function_restore(dump), True, "FUNCTION RESTORE of a FUNCTION DUMP")
        expect(r.fcall(f"{library}_get", 1, k("fk")), b"fv", "FCALL after RESTORE")
        r.function_delete(library)


CHECKS = [
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
    "client_name",
    "info",
    "config",
    "types",
    "scripting",
]


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def check_auth(port, protocol):
    """A server started with `requirepass smoke-secret`: redis-py's AUTH (RESP2) or
    HELLO 3 AUTH (RESP3) handshake, and its error types when the password is wrong or
    missing."""
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, password=PASSWORD)
    expect(r.ping(), True, "PING after authenticating")
    r.close()
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, username="default", password=PASSWORD)
    expect(r.ping(), True, "PING after authenticating as default")
    r.close()
    for password, what in (("wrong", "a wrong password"), (None, "no password")):
        # AuthenticationError is a ConnectionError, which redis-py retries with backoff.
        r = redis.Redis(
            host="127.0.0.1",
            port=port,
            protocol=protocol,
            password=password,
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
        )
        try:
            got = r.ping()
        except redis.exceptions.AuthenticationError:
            got = None
        finally:
            r.close()
        expect(got, None, f"{what} raises AuthenticationError")


PASSWORD = "smoke-secret"


def main():
    args = sys.argv[1:]
    auth_port = None
    if len(args) == 3 and args[1] == "--auth-port":
        auth_port = int(args[2])
    elif len(args) != 1:
        print(f"usage: smoke.py PORT [--auth-port PORT (requirepass {PASSWORD})]", file=sys.stderr)
        return 2
    port = int(args[0])
    # A hung server must fail the run, not hang it: dump every thread's stack and exit.
    faulthandler.dump_traceback_later(60, exit=True)
    started = time.monotonic()
    hosts = ["127.0.0.1", "localhost"] + (["::1"] if has_ipv6_loopback() else [])
    for host in hosts:
        for protocol in (2, 3):
            where = f"redis-py {redis.__version__} {host}:{port} RESP{protocol}"
            try:
                run = Run(host, port, protocol)
            except Exception as e:
                print(f"FAIL {where}: could not create a client: {e!r}", file=sys.stderr)
                return 1
            for name in CHECKS:
                try:
                    getattr(run, f"check_{name}")()
                except Exception as e:
                    print(f"FAIL {where} check {name}: {e}", file=sys.stderr)
                    if not isinstance(e, CheckFailed):
                        traceback.print_exc()
                    return 1
            laddr = run.r.client_info().get("laddr")
            run.r.close()
            print(f"ok   {where} (server side {laddr}): {', '.join(CHECKS)}")
    if auth_port is not None:
        for protocol in (2, 3):
            where = f"redis-py {redis.__version__} 127.0.0.1:{auth_port} RESP{protocol} requirepass"
            try:
                check_auth(auth_port, protocol)
            except Exception as e:
                print(f"FAIL {where} check auth: {e}", file=sys.stderr)
                if not isinstance(e, CheckFailed):
                    traceback.print_exc()
                return 1
            print(f"ok   {where}: auth")
    print(f"redis-py: all checks passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
