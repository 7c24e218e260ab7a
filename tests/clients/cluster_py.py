#!/usr/bin/env python3
"""redis-py's RedisCluster against a running cluster:
`python3 tests/clients/cluster_py.py PORT,PORT,...` (the nodes on 127.0.0.1, all primaries).

Runs, in RESP2 and in RESP3, what an application does with a cluster client: the client's
slot map (CLUSTER SLOTS) checked against its own parse of CLUSTER NODES and CLUSTER INFO;
SET/GET over keys of every node; MSET/MGET on one hash tag, mset_nonatomic/mget_nonatomic
split by the client, CROSSSLOT from the server; INCR; a hash, a list, a set and a sorted set;
a cluster pipeline over keys of every node and a transaction pipeline on one hash tag; EVAL
with a key; PUBLISH on each node reaching a ClusterPubSub subscriber; scan_iter over every
primary; and a slot moved behind the client's back (MIGRATE and CLUSTER SETSLOT over plain
connections), which the client must follow on the MOVED it gets. Exits 0 when every check
passed; on the first failure prints which check and exits 1.
"""

import faulthandler
import os
import sys
import time
import traceback

try:
    import redis
    from redis.cluster import ClusterNode, RedisCluster
except ImportError:
    print(
        "redis-py is not installed: run scripts/test, or "
        "python3 -m pip install -r tests/clients/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(2)

SLOTS = 16384


class CheckFailed(Exception):
    pass


def expect(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")


def expect_true(cond, what):
    if not cond:
        raise CheckFailed(what)


def expect_error(fn, contains, what, error=redis.exceptions.ResponseError):
    """The call must raise `error` whose text contains `contains`."""
    try:
        got = fn()
    except error as e:
        if contains not in str(e):
            raise CheckFailed(f"{what}: error {str(e)!r} does not contain {contains!r}")
        return e
    raise CheckFailed(f"{what}: expected {error.__name__}, got the reply {got!r}")


def next_message(p, what, timeout=5.0):
    """The next message of a PubSub, waited for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"{what}: no message within {timeout}s")
        m = p.get_message(ignore_subscribe_messages=True, timeout=min(left, 0.5))
        if m is not None:
            return m


class Run:
    def __init__(self, ports, protocol):
        self.ports = ports
        self.protocol = protocol
        self.prefix = f"cluster:py:{os.getpid()}:{redis.__version__}:{protocol}:"
        self.rc = RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports],
            decode_responses=True,
            protocol=protocol,
            socket_timeout=5,
        )

    def k(self, name):
        return self.prefix + name

    def owner(self, slot):
        """The port redis-py routes `slot` to."""
        return self.rc.nodes_manager.get_node_from_slot(slot).port

    def plain(self, port):
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)

    def check_topology(self):
        rc = self.rc
        expect(sorted(n.port for n in rc.get_primaries()), sorted(self.ports), "the client's primaries")
        expect(rc.get_replicas(), [], "no replicas")
        info = rc.cluster_info()
        expect(info["cluster_state"], "ok", "CLUSTER INFO cluster_state")
        expect(int(info["cluster_slots_assigned"]), SLOTS, "cluster_slots_assigned")
        expect(int(info["cluster_known_nodes"]), len(self.ports), "cluster_known_nodes")
        expect(int(info["cluster_size"]), len(self.ports), "cluster_size")
        nodes = rc.cluster_nodes()
        expect(sorted(nodes), sorted(f"127.0.0.1:{p}" for p in self.ports), "CLUSTER NODES addresses")
        self.ids = {}
        covered = 0
        for addr, node in nodes.items():
            port = int(addr.rsplit(":", 1)[1])
            self.ids[port] = node["node_id"]
            expect_true("master" in node["flags"], f"{addr} is a master: {node['flags']}")
            expect(node["connected"], True, f"{addr} is connected")
            expect(node["migrations"], [], f"{addr} migrates nothing")
            for r in node["slots"]:
                first, last = int(r[0]), int(r[-1])
                covered += last - first + 1
                for slot in (first, last):
                    expect(self.owner(slot), port, f"slot {slot} in the client's map vs CLUSTER NODES")
        expect(covered, SLOTS, "CLUSTER NODES covers every slot")
        expect(len(set(self.ids.values())), len(self.ports), "every node has its own id")
        myself = [a for a, n in nodes.items() if "myself" in n["flags"]]
        expect(len(myself), 1, "one node is myself")
        expect(rc.cluster_keyslot("foo"), rc.keyslot("foo"), "CLUSTER KEYSLOT agrees with the client")
        shards = rc.cluster_shards()
        expect(len(shards), len(self.ports), "CLUSTER SHARDS has a shard per primary")

    def check_strings(self):
        rc = self.rc
        keys = [self.k(f"s:{i}") for i in range(300)]
        owners = {self.owner(rc.keyslot(key)) for key in keys}
        expect(owners, set(self.ports), "the keys spread over every node")
        for i, key in enumerate(keys):
            expect(rc.set(key, f"v{i}"), True, f"SET {key}")
        for i, key in enumerate(keys):
            expect(rc.get(key), f"v{i}", f"GET {key}")
        expect(rc.get(self.k("missing")), None, "GET of a missing key")
        expect(rc.set(keys[0], "again", nx=True), None, "SET NX of an existing key")
        expect(rc.incr(self.k("counter")), 1, "INCR")
        expect(rc.incrby(self.k("counter"), 41), 42, "INCRBY")
        expect_error(lambda: rc.incr(keys[1]), "not an integer", "INCR of a non-number")
        # DEL and EXISTS of keys of several slots: the client splits them per slot.
        expect(rc.delete(keys[2], keys[3]), 2, "DEL of keys of two slots")
        expect(rc.exists(keys[2], keys[3], keys[4]), 1, "EXISTS of keys of three slots")
        self.string_keys = [key for i, key in enumerate(keys) if i not in (2, 3)]

    def check_multi_key(self):
        rc = self.rc
        tagged = [f"{{{self.k('user')}}}:{n}" for n in "abc"]
        expect(len({rc.keyslot(k) for k in tagged}), 1, "hash-tagged keys share a slot")
        expect(rc.mset({tagged[0]: "1", tagged[1]: "2", tagged[2]: "3"}), True, "MSET on a hash tag")
        expect(rc.mget(tagged), ["1", "2", "3"], "MGET on a hash tag")
        apart = [self.k(f"apart:{n}") for n in "xyz"]
        expect_true(len({rc.keyslot(k) for k in apart}) > 1, "untagged keys in several slots")
        expect(rc.mset_nonatomic({apart[0]: "x", apart[1]: "y", apart[2]: "z"}), [True] * 3, "mset_nonatomic")
        expect(rc.mget_nonatomic(apart + [self.k("none")]), ["x", "y", "z", None], "mget_nonatomic")
        # Sent as one command, the server refuses keys of several slots.
        expect_error(
            lambda: rc.execute_command("MGET", *apart, target_nodes=rc.get_node_from_key(apart[0])),
            "Keys in request don't hash to the same slot",  # CROSSSLOT, without its code
            "MGET across slots",
        )

    def check_types(self):
        rc = self.rc
        h = self.k("h")
        expect(rc.hset(h, mapping={"f1": "v1", "f2": "v2"}), 2, "HSET")
        expect(rc.hgetall(h), {"f1": "v1", "f2": "v2"}, "HGETALL")
        expect(rc.hincrby(h, "n", 5), 5, "HINCRBY")
        lst = self.k("l")
        expect(rc.rpush(lst, "a", "b", "c"), 3, "RPUSH")
        expect(rc.lrange(lst, 0, -1), ["a", "b", "c"], "LRANGE")
        expect(rc.lpop(lst), "a", "LPOP")
        s = self.k("set")
        expect(rc.sadd(s, "x", "y", "x"), 2, "SADD")
        expect(rc.smembers(s), {"x", "y"}, "SMEMBERS")
        z = self.k("z")
        expect(rc.zadd(z, {"one": 1, "two": 2, "three": 3}), 3, "ZADD")
        expect(rc.zrange(z, 0, -1, withscores=True), [["one", 1.0], ["two", 2.0], ["three", 3.0]]
               if self.protocol == 3 else [("one", 1.0), ("two", 2.0), ("three", 3.0)], "ZRANGE WITHSCORES")
        expect(rc.zincrby(z, 10, "one"), 11.0, "ZINCRBY")
        expect(rc.type(z), "zset", "TYPE")

    def check_pipeline(self):
        rc = self.rc
        keys = [self.k(f"p:{i}") for i in range(200)]
        expect({self.owner(rc.keyslot(k)) for k in keys}, set(self.ports), "the pipeline's keys on every node")
        with rc.pipeline() as p:
            for i, key in enumerate(keys):
                p.set(key, str(i))
            expect(p.execute(), [True] * len(keys), "200 pipelined SETs over every node")
        with rc.pipeline() as p:
            for key in keys:
                p.get(key)
            expect(p.execute(), [str(i) for i in range(len(keys))], "200 pipelined GETs, in order")
        with rc.pipeline() as p:
            p.set(keys[0], "text").incr(keys[0]).get(keys[0])
            replies = p.execute(raise_on_error=False)
        expect_true(isinstance(replies[1], redis.exceptions.ResponseError), f"an error in its place: {replies!r}")
        expect(replies[2], "text", "the pipeline goes on after an error")

    def check_transaction(self):
        rc = self.rc
        tag = f"{{{self.k('tx')}}}"
        with rc.pipeline(transaction=True) as p:
            p.set(f"{tag}:a", "1").incr(f"{tag}:a").hset(f"{tag}:h", "f", "v").get(f"{tag}:b")
            # A cluster transaction leaves SET's reply unparsed (so against redis-server too).
            expect(p.execute(), ["OK", 2, 1, None], "MULTI/EXEC on a hash tag")
        with rc.pipeline(transaction=True) as p:
            p.set(f"{tag}:s", "text").incr(f"{tag}:s")
            replies = p.execute(raise_on_error=False)
        expect(replies[0], "OK", "EXEC's first reply")
        expect_true(isinstance(replies[1], redis.exceptions.ResponseError), f"EXEC's error in its place: {replies!r}")
        # WATCH on the hash tag: a write by another client aborts the transaction.
        with rc.pipeline(transaction=True) as p:
            p.watch(f"{tag}:a")
            rc.set(f"{tag}:a", "changed")
            p.multi()
            p.set(f"{tag}:a", "mine")
            expect_error(p.execute, "", "EXEC after the watched key changed", redis.exceptions.WatchError)
        expect(rc.get(f"{tag}:a"), "changed", "the aborted transaction wrote nothing")

    def check_scripting(self):
        rc = self.rc
        key = self.k("lua")
        script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[1], ARGV[2])"
        expect(rc.eval(script, 1, key, "10", "5"), 15, "EVAL with a key")
        expect(rc.get(key), "15", "what the script wrote")
        add = rc.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        expect(add(keys=[key], args=[5]), 20, "a registered script (EVALSHA, then SCRIPT LOAD on NOSCRIPT)")
        tag = f"{{{self.k('lua2')}}}"
        expect(
            rc.eval("return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}", 2, f"{tag}:a", f"{tag}:b"),
            [1, 1],
            "EVAL with two keys on a hash tag",
        )
        apart = [self.k(f"apart:{n}") for n in "xy"]
        expect_error(
            lambda: rc.execute_command("EVAL", "return 1", 2, *apart, target_nodes=rc.get_node_from_key(apart[0])),
            "Keys in request don't hash to the same slot",
            "EVAL with keys of several slots",
        )

    def check_pubsub(self):
        rc = self.rc
        channel = self.k("news")
        p = rc.pubsub()
        try:
            p.subscribe(channel)
            expect(next_subscribe(p), ["subscribe", channel, 1], "the subscribe confirmation")
            counts = []
            for i, node in enumerate(rc.get_primaries()):
                counts.append(rc.get_redis_connection(node).publish(channel, f"from {node.port}"))
            expect(sum(counts), 1, f"PUBLISH counts the subscriber on its node only: {counts}")
            got = [next_message(p, f"message {i}") for i in range(len(counts))]
            # Each message reaches the subscriber's node over the cluster bus on its own:
            # in any order, on a real cluster too.
            expect(
                sorted((m["channel"], m["data"]) for m in got),
                sorted((channel, f"from {n.port}") for n in rc.get_primaries()),
                "PUBLISH on every node reaches the subscriber",
            )
            n = rc.publish(channel, "via the cluster")
            expect_true(n in (0, 1), f"PUBLISH through the cluster client: {n}")
            expect(next_message(p, "the cluster's message")["data"], "via the cluster", "PUBLISH via the cluster")
        finally:
            p.close()

    def check_scan(self):
        rc = self.rc
        seen = set(rc.scan_iter(match=self.k("s:*"), count=50))
        expect(sorted(seen), sorted(self.string_keys), "scan_iter over every primary saw every key")
        sizes = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
        expect_true(sizes >= len(self.string_keys), f"DBSIZE summed over the primaries: {sizes}")

    def check_moved(self):
        """A slot moved behind the client's back; the client follows the MOVED."""
        rc = self.rc
        key = self.k("moved")
        slot = rc.keyslot(key)
        expect(rc.set(key, "before"), True, "SET before the move")
        source = self.owner(slot)
        target = next(p for p in self.ports if p != source)
        others = [p for p in self.ports if p not in (source, target)]
        conns = {p: self.plain(p) for p in self.ports}
        try:
            self.move(conns, slot, key, source, target, others)
            expect(self.owner(slot), source, "the client has not seen the move")
            expect(rc.get(key), "before", "GET after the move (MOVED followed)")
            expect(self.owner(slot), target, "the client's map follows the MOVED")
            expect(rc.set(key, "after"), True, "SET after the move")
            expect_true(conns[target].cluster("COUNTKEYSINSLOT", slot) >= 1, "the key is on the new node")
            expect(conns[source].cluster("COUNTKEYSINSLOT", slot), 0, "and no longer on the old one")
            expect_error(lambda: conns[source].get(key), f"{slot} 127.0.0.1:{target}", "the old node redirects",
                         redis.exceptions.MovedError)
            # And back, so a rerun starts from the split it expects.
            self.move(conns, slot, key, target, source, others)
            expect(rc.get(key), "after", "GET after the move back")
            expect(self.owner(slot), source, "the map follows the move back")
        finally:
            for c in conns.values():
                c.close()

    def move(self, conns, slot, key, source, target, others):
        expect(conns[target].cluster("SETSLOT", slot, "IMPORTING", self.ids[source]), True, "SETSLOT IMPORTING")
        expect(conns[source].cluster("SETSLOT", slot, "MIGRATING", self.ids[target]), True, "SETSLOT MIGRATING")
        # Every key of the slot, as a reshard moves them (other keys may share the slot).
        keys = conns[source].cluster("GETKEYSINSLOT", slot, 1000)
        expect_true(key in keys, f"CLUSTER GETKEYSINSLOT {slot} lists {key}: {keys}")
        expect(conns[source].migrate("127.0.0.1", target, keys, 0, 5000), "OK", "MIGRATE")
        for port in [target, source] + others:
            expect(conns[port].cluster("SETSLOT", slot, "NODE", self.ids[target]), True, f"SETSLOT NODE on {port}")


def next_subscribe(p, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.5)
        if m is not None:
            return [m["type"], m["channel"], m["data"]]
    raise CheckFailed("no subscribe confirmation")


CHECKS = ["topology", "strings", "multi_key", "types", "pipeline", "transaction", "scripting", "scan", "moved",
          "pubsub"]


def main():
    try:
        ports = [int(p) for p in sys.argv[1].split(",")]
    except (IndexError, ValueError):
        print("usage: cluster_py.py PORT,PORT,...", file=sys.stderr)
        return 2
    # A hung server must fail the run, not hang it: dump every thread's stack and exit.
    faulthandler.dump_traceback_later(90, exit=True)
    started = time.monotonic()
    for protocol in (2, 3):
        where = f"redis-py {redis.__version__} cluster {','.join(map(str, ports))} RESP{protocol}"
        try:
            run = Run(ports, protocol)
        except Exception as e:
            print(f"FAIL {where}: could not create a RedisCluster: {e!r}", file=sys.stderr)
            return 1
        for name in CHECKS:
            try:
                getattr(run, f"check_{name}")()
            except Exception as e:
                print(f"FAIL {where} check {name}: {e}", file=sys.stderr)
                if not isinstance(e, CheckFailed):
                    traceback.print_exc()
                run.rc.close()
                return 1
        run.rc.close()
        print(f"ok   {where}: {', '.join(CHECKS)}")
    print(f"redis-py: all cluster checks passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
