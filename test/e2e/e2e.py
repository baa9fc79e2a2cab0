#!/usr/bin/env python3
"""The independent half of the end-to-end test: what is put, and what the counters must be.

gen ROUND PLAIN GROUPS DIR
    Writes the records of round ROUND: DIR/put-ROUND.json, PLAIN plain records for
    `aws kinesis put-records --cli-input-json` (their data base64, as CLI v2 takes blobs);
    DIR/groups-ROUND.jsonl, GROUPS groups of user records for agg.js (the KPL aggregator);
    and appends one line per plain record to DIR/manifest.jsonl: the record's data (base64)
    and the events it holds.
aggs GROUPS AGGS MANIFEST
    Appends to MANIFEST one line per aggregate of AGGS (agg.js's output, line for line with
    GROUPS): the aggregate's data and the events of all its user records.
expect PORT STREAM MANIFEST CHECKPOINTS
    Reads every shard of STREAM back from the emulator on 127.0.0.1:PORT through its HTTP API
    (urllib, not the AWS CLI, not kincount-pull), checks that every record of MANIFEST is in
    the stream exactly once and nothing else is, and prints the counters that the test's key
    templates must give, as sorted KEY<TAB>COUNT lines.  Writes to CHECKPOINTS the sequence
    number of the last record of every shard that has one, as sorted STREAM/SHARD<TAB>SEQ
    lines.
wait-active PORT STREAM
    Waits (at most 30 s, polling every 50 ms) until STREAM on the emulator is ACTIVE: after
    create-stream and split-shard.

The key templates this mirrors (test/e2e/e2e.bats, KEYS):
    e2e:{page}  e2e:{@shard_id}:{page}  e2e:{@time:%Y-%m-%dT%H:%M}:{page}  e2e:id:{id}
The time is the record's arrival time in UTC.  Every event id is unique, so each
e2e:id:... counter is 1 when each record was counted once.
"""
import base64
import collections
import json
import sys
import time
import urllib.error
import urllib.request

PAGES = ["cart", "home", "search", "caf\u00e9", "item"]


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def events_of(round_, rec, count):
    return [{"page": PAGES[(rec * 3 + k) % len(PAGES)], "id": "r%s-%d-%d" % (round_, rec, k),
             "n": rec * 10 + k} for k in range(count)]


def payload(events, form):
    """The record data for EVENTS in one of the forms kincount reads: a JSON array, JSON
    lines ending in a new line, or JSON lines with spaces and \\u escapes and no last new line."""
    if form == 0:
        return dumps(events)
    if form == 1:
        return "\n".join(dumps(e) for e in events) + "\n"
    return "\n".join(json.dumps(e) for e in events)


def gen(round_, plain, groups, folder):
    records = []
    with open(folder + "/manifest.jsonl", "a", encoding="utf-8") as manifest:
        for r in range(plain):
            evs = events_of(round_, r, r % 3 + 1)
            data = base64.b64encode(payload(evs, r % 3).encode()).decode()
            records.append({"Data": data, "PartitionKey": "pk-%s-%d" % (round_, r)})
            manifest.write(dumps({"data": data, "events": evs}) + "\n")
    with open(folder + "/put-%s.json" % round_, "w", encoding="utf-8") as f:
        f.write(dumps({"StreamName": "e2e", "Records": records}) + "\n")
    with open(folder + "/groups-%s.jsonl" % round_, "w", encoding="utf-8") as f:
        for g in range(groups):
            users = []
            for u in range(g + 2):
                rec = 1000 + g * 100 + u
                evs = events_of(round_, rec, u % 2 + 1)
                users.append({"partitionKey": "kpl-%s-%d-%d" % (round_, g, u),
                              "data": payload(evs, u % 3), "events": evs})
            f.write(dumps(users) + "\n")


def aggs(groups_file, aggs_file, manifest_file):
    with open(groups_file, encoding="utf-8") as g, open(aggs_file, encoding="utf-8") as a:
        groups = [json.loads(l) for l in g if l.strip()]
        made = [json.loads(l) for l in a if l.strip()]
    if len(groups) != len(made):
        sys.exit("e2e.py: %d groups but %d aggregates" % (len(groups), len(made)))
    with open(manifest_file, "a", encoding="utf-8") as manifest:
        for users, agg in zip(groups, made):
            raw = base64.b64decode(agg["data"])
            if raw[:4] != b"\xf3\x89\x9a\xc2":
                sys.exit("e2e.py: agg.js wrote something that is not a KPL aggregate")
            evs = [e for u in users for e in u["events"]]
            manifest.write(dumps({"data": agg["data"], "events": evs, "users": len(users)}) + "\n")


class Emulator:
    """Kinesis's JSON API on 127.0.0.1, called directly (the emulator checks no signature)."""

    def __init__(self, port):
        self.url = "http://127.0.0.1:%d/" % port

    def call(self, op, body):
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Kinesis_20131202." + op,
            "X-Amz-Date": "20000101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x/20000101/us-east-1/kinesis/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def shards(self, stream):
        out, token = [], None
        while True:
            page = self.call("ListShards", {"NextToken": token} if token else {"StreamName": stream})
            out += page["Shards"]
            token = page.get("NextToken")
            if not token:
                return out

    def records(self, stream, shard):
        """Every record of SHARD, in order, read until a closed shard's end or caught up."""
        it = self.call("GetShardIterator", {"StreamName": stream, "ShardId": shard,
                                            "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        out = []
        for _ in range(10000):
            page = self.call("GetRecords", {"ShardIterator": it})
            out += page["Records"]
            it = page.get("NextShardIterator")
            if not it or (not page["Records"] and page.get("MillisBehindLatest") == 0):
                return out
        sys.exit("e2e.py: shard %s did not end after 10000 pages" % shard)


def expect(port, stream, manifest_file, checkpoints_file):
    wanted, wanted_users = {}, {}
    with open(manifest_file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                m = json.loads(line)
                wanted[m["data"]] = m["events"]
                wanted_users[m["data"]] = m.get("users", 0)
    emu = Emulator(port)
    counts = collections.Counter()
    totals = collections.Counter(records=0, events=0, aggregates=0, sub_records=0)
    seen = collections.Counter()
    checkpoints = {}
    for shard in emu.shards(stream):
        sid = shard["ShardId"]
        for rec in emu.records(stream, sid):
            data = rec["Data"]
            seen[data] += 1
            if data not in wanted:
                sys.exit("e2e.py: shard %s holds a record that was not put: %s" % (sid, data))
            checkpoints["%s/%s" % (stream, sid)] = rec["SequenceNumber"]
            totals["records"] += 1
            totals["events"] += len(wanted[data])
            if base64.b64decode(data)[:4] == b"\xf3\x89\x9a\xc2":
                totals["aggregates"] += 1
                totals["sub_records"] += wanted_users[data]
            minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(int(rec["ApproximateArrivalTimestamp"])))
            for ev in wanted[data]:
                page = ev["page"]
                for key in ("e2e:%s" % page, "e2e:%s:%s" % (sid, page),
                            "e2e:%s:%s" % (minute, page), "e2e:id:%s" % ev["id"]):
                    counts[key] += 1
    missing = [d for d in wanted if seen[d] != 1]
    if missing:
        sys.exit("e2e.py: %d records put are not in the stream exactly once" % len(missing))
    out = sys.stdout.buffer
    for k in sorted(counts, key=lambda s: s.encode()):
        out.write(("%s\t%d\n" % (k, counts[k])).encode())
    with open(checkpoints_file, "w", encoding="utf-8") as f:
        for k in sorted(checkpoints, key=lambda s: s.encode()):
            f.write("%s\t%s\n" % (k, checkpoints[k]))
    with open(checkpoints_file + ".totals", "w", encoding="utf-8") as f:
        f.write(dumps(totals) + "\n")


def wait_active(port, stream):
    emu = Emulator(port)
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        try:
            status = emu.call("DescribeStream", {"StreamName": stream})["StreamDescription"]["StreamStatus"]
        except urllib.error.HTTPError as err:
            status = "HTTP %d" % err.code
        if status == "ACTIVE":
            return
        time.sleep(0.05)
    sys.exit("e2e.py: stream %s is not ACTIVE after 30 s (%s)" % (stream, status))


def main(argv):
    if len(argv) == 6 and argv[1] == "gen":
        gen(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 5 and argv[1] == "aggs":
        aggs(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "wait-active":
        wait_active(int(argv[2]), argv[3])
    elif len(argv) == 6 and argv[1] == "expect":
        expect(int(argv[2]), argv[3], argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
