#!/usr/bin/env python3
"""A fake AWS CLI for the unit tests of kincount-pull (test/90-pull.bats), given as AWS_CLI.

It keeps Kinesis streams, their shards and records in a JSON state file (FAKE_AWS_STATE)
and answers 'aws kinesis list-shards', 'get-shard-iterator' and 'get-records' as CLI v2
prints them: JSON with a four-space indent and raw UTF-8, absent fields left out (a closed
shard's last page has no NextShardIterator), arrival times in ISO 8601 in the local time
zone of TZ, or as epoch seconds when the profile (AWS_CONFIG_FILE, AWS_PROFILE) says
cli_timestamp_format = wire; without --output it prints what the profile's 'output' says.
Errors are the CLI's: a blank line and 'An error occurred (CODE) when calling the OP
operation: MESSAGE' on stderr with exit status 254, 255 for an endpoint it cannot reach,
252 for a command line it does not know.  Every call's argv (and whether REDISCLI_AUTH was
in its environment) is appended to FAKE_AWS_LOG as a JSON line.

Faults on demand ('admin fault JSON', merged into state["faults"]):
  throttle      {SHARD: N}  the next N get-records of SHARD: ProvisionedThroughputExceeded
  throttle_list N           the next N list-shards: LimitExceededException
  expire_at     {SHARD: [K...]}  at the K-th get-records of SHARD, every iterator of SHARD
                            issued so far has expired (ExpiredIteratorException)
  empty_pages   {SHARD: N}  the next N get-records of SHARD that have records to give
                            answer an empty page with MillisBehindLatest > 0 instead
  page_records  N           at most N records a page (and --limit)
  list_page     N           at most N shards a list-shards page (NextToken)
  endpoint      URL         calls without --endpoint-url URL cannot connect (exit 255)
  down          true        no call can connect (exit 255)
  hook          {SHARD: CMD or [K, CMD]}  sh -c CMD once, before answering the first (the
                            K-th) get-records of SHARD
  no_millis     true        pages carry no MillisBehindLatest and never end a closed
                            shard
  zero_millis   true        every page of an open shard says MillisBehindLatest 0, even
                            with records behind it (as kinesalite 3.3.3 does)

Admin commands (for the tests, not the CLI's): admin create STREAM N; admin put STREAM
SHARD COUNT; admin split STREAM SHARD; admin merge STREAM SHARD ADJACENT; admin fault
JSON; admin counts [--default] [SHARD...] (the expected counters of all shards or of SHARD...,
worked out here from the records: for every event, '{@date}:{page}' with the UTC date of
the arrival time, and 'p:{page}:{n}'; with --default, kincount's default template).
"""

import base64
import collections
import configparser
import datetime
import fcntl
import json
import os
import subprocess
import sys

STATE = os.environ.get("FAKE_AWS_STATE", "fake-aws.json")
ACCOUNT = "123456789012"
BASE_SEQ = 49590338271490256608559692538361571095921575989136588898
PAGES = ["cart", "home", "search", "item", "caf\u00e9"]
# The first record arrives at 2015-12-16T23:30:00.25Z, one a minute after it, so that the
# UTC date and the date in Asia/Kolkata (+05:30) differ for the first half hour.
FIRST_ARRIVAL = 1450308600.25


class CliError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


def service_error(op, code, message, retries=None):
    extra = " (reached max retries: %d)" % retries if retries is not None else ""
    return CliError(254, "\nAn error occurred (%s) when calling the %s operation%s: %s\n"
                    % (code, op, extra, message))


def load():
    with open(STATE, encoding="utf-8") as f:
        return json.load(f)


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, STATE)


class Locked:
    """The state file's lock: calls of parallel runs see each other's changes whole."""

    def __enter__(self):
        self.f = open(STATE + ".lock", "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        self.f.close()


def profile():
    cfg = configparser.ConfigParser()
    path = os.environ.get("AWS_CONFIG_FILE")
    if path:
        cfg.read(path)
    name = os.environ.get("AWS_PROFILE", "default")
    for section in (name if name == "default" else "profile " + name, name):
        if cfg.has_section(section):
            return dict(cfg.items(section))
    return {}


def shard_id(i):
    return "shardId-%012d" % i


def find_stream(state, op, name):
    if name not in state["streams"]:
        raise service_error(op, "ResourceNotFoundException",
                            "Stream %s under account %s not found." % (name, ACCOUNT))
    return state["streams"][name]


def find_shard(stream, op, name, sid):
    for s in stream["shards"]:
        if s["ShardId"] == sid:
            return s
    raise service_error(op, "ResourceNotFoundException",
                        "Shard %s in stream %s under account %s does not exist"
                        % (sid, name, ACCOUNT))


def new_iterator(state, name, sid, pos):
    state["issued"] += 1
    raw = "%s/%s/%d/%d/%s" % (name, sid, pos, state["issued"], "x" * 40)
    return "AAAAAAAAAAE" + base64.b64encode(raw.encode()).decode()


def timestamp(ts, wire):
    if wire:
        return ts
    t = datetime.datetime.fromtimestamp(ts).astimezone()
    return t.isoformat()


def shard_view(s):
    out = {"ShardId": s["ShardId"]}
    if s.get("ParentShardId"):
        out["ParentShardId"] = s["ParentShardId"]
    if s.get("AdjacentParentShardId"):
        out["AdjacentParentShardId"] = s["AdjacentParentShardId"]
    out["HashKeyRange"] = {"StartingHashKey": s["StartingHashKey"],
                           "EndingHashKey": s["EndingHashKey"]}
    rng = {"StartingSequenceNumber": s["StartingSequenceNumber"]}
    if s.get("EndingSequenceNumber"):
        rng["EndingSequenceNumber"] = s["EndingSequenceNumber"]
    out["SequenceNumberRange"] = rng
    return out


def list_shards(state, args):
    op = "ListShards"
    faults = state["faults"]
    if faults.get("throttle_list", 0) > 0:
        faults["throttle_list"] -= 1
        raise service_error(op, "LimitExceededException",
                            "Rate exceeded for stream under account %s." % ACCOUNT, 2)
    name, token = args.get("--stream-name"), args.get("--next-token")
    if name and token:
        raise service_error(op, "InvalidArgumentException",
                            "NextToken and StreamName cannot be provided together.")
    if token:
        name, start = base64.b64decode(token).decode().split("/")
        start = int(start)
    elif name:
        start = 0
    else:
        raise service_error(op, "InvalidArgumentException",
                            "Either NextToken or StreamName should be provided.")
    stream = find_stream(state, op, name)
    per = faults.get("list_page", 1000)
    shards = stream["shards"][start:start + per]
    out = {"Shards": [shard_view(s) for s in shards]}
    if start + per < len(stream["shards"]):
        out["NextToken"] = base64.b64encode(("%s/%d" % (name, start + per)).encode()).decode()
    return out


def get_shard_iterator(state, args):
    op = "GetShardIterator"
    name = args["--stream-name"]
    stream = find_stream(state, op, name)
    s = find_shard(stream, op, name, args["--shard-id"])
    kind = args["--shard-iterator-type"]
    if kind == "TRIM_HORIZON":
        pos = 0
    elif kind == "AFTER_SEQUENCE_NUMBER":
        seq = args["--starting-sequence-number"]
        seqs = [r["SequenceNumber"] for r in s["records"]]
        if seq not in seqs:
            raise service_error(op, "InvalidArgumentException",
                                "StartingSequenceNumber %s used in GetShardIterator on shard %s "
                                "in stream %s under account %s is invalid because it did not "
                                "come from this stream." % (seq, s["ShardId"], name, ACCOUNT))
        pos = seqs.index(seq) + 1
    else:
        raise CliError(252, "fake-aws: iterator type %s is not faked\n" % kind)
    return {"ShardIterator": new_iterator(state, name, s["ShardId"], pos)}


def get_records(state, args, wire):
    op = "GetRecords"
    faults = state["faults"]
    it = args["--shard-iterator"]
    try:
        name, sid, pos, issued, _ = base64.b64decode(it[11:]).decode().split("/")
        pos, issued = int(pos), int(issued)
    except Exception:
        raise service_error(op, "InvalidArgumentException", "Invalid ShardIterator.")
    stream = find_stream(state, op, name)
    s = find_shard(stream, op, name, sid)
    calls = state["calls"].setdefault(sid, 0) + 1
    state["calls"][sid] = calls
    if calls in faults.get("expire_at", {}).get(sid, []):
        state["expired_below"][sid] = state["issued"]
    if issued <= state["expired_below"].get(sid, 0):
        raise service_error(op, "ExpiredIteratorException",
                            "Iterator expired. The iterator was created at time Mon Dec 14 "
                            "09:00:00 UTC 2015 while right now it is Mon Dec 14 09:05:01 UTC "
                            "2015 which is further in the future than the tolerated delay of "
                            "300000 milliseconds.")
    if faults.get("throttle", {}).get(sid, 0) > 0:
        faults["throttle"][sid] -= 1
        raise service_error(op, "ProvisionedThroughputExceededException",
                            "Rate exceeded for shard %s in stream %s under account %s."
                            % (sid, name, ACCOUNT), 2)
    records = s["records"]
    limit = min(int(args.get("--limit", 10000)), faults.get("page_records", 10000))
    if limit < 1 or limit > 10000:
        raise service_error(op, "ValidationException", "1 validation error detected: Value "
                            "'%d' at 'limit' failed to satisfy constraint" % limit)
    out = {}
    if pos < len(records) and faults.get("empty_pages", {}).get(sid, 0) > 0:
        faults["empty_pages"][sid] -= 1
        out["Records"] = []
        out["NextShardIterator"] = new_iterator(state, name, sid, pos)
        out["MillisBehindLatest"] = 86400000
        return out
    page = records[pos:pos + limit]
    end = pos + len(page)
    out["Records"] = [{"SequenceNumber": r["SequenceNumber"],
                       "ApproximateArrivalTimestamp": timestamp(r["ts"], wire),
                       "Data": r["Data"], "PartitionKey": r["PartitionKey"]} for r in page]
    no_millis = faults.get("no_millis", False)
    closed = bool(s.get("EndingSequenceNumber"))
    if closed and end == len(records) and not no_millis:
        kids = [c for c in stream["shards"]
                if sid in (c.get("ParentShardId"), c.get("AdjacentParentShardId"))]
        out["MillisBehindLatest"] = 0
        out["ChildShards"] = [{"ShardId": c["ShardId"],
                               "ParentShards": [p for p in (c.get("ParentShardId"),
                                                            c.get("AdjacentParentShardId")) if p],
                               "HashKeyRange": {"StartingHashKey": c["StartingHashKey"],
                                                "EndingHashKey": c["EndingHashKey"]}}
                              for c in kids]
        return out
    out["NextShardIterator"] = new_iterator(state, name, sid, end)
    if faults.get("zero_millis"):
        out["MillisBehindLatest"] = 0
    elif not no_millis:
        if end < len(records):
            out["MillisBehindLatest"] = max(1, int((records[-1]["ts"] - records[end - 1 if end else 0]["ts"]) * 1000))
        else:
            out["MillisBehindLatest"] = 0
    return out


def text_output(doc):
    """Something like --output text: tab-separated lines, not JSON."""
    lines = []
    for key, value in doc.items():
        if isinstance(value, list):
            for v in value:
                lines.append(key.upper() + "\t" + "\t".join(str(x) for x in (
                    v.values() if isinstance(v, dict) else [v])))
        else:
            lines.append(key.upper() + "\t" + str(value))
    return "\n".join(lines) + "\n"


VALUE_OPTIONS = {
    "list-shards": {"--stream-name", "--next-token", "--max-results"},
    "get-shard-iterator": {"--stream-name", "--shard-id", "--shard-iterator-type",
                           "--starting-sequence-number"},
    "get-records": {"--shard-iterator", "--limit"},
}
GLOBAL_VALUE = {"--output", "--endpoint-url", "--cli-connect-timeout", "--cli-read-timeout",
                "--region", "--profile"}
GLOBAL_FLAGS = {"--no-paginate", "--no-cli-pager", "--debug"}
REQUIRED = {
    "list-shards": set(),
    "get-shard-iterator": {"--stream-name", "--shard-id", "--shard-iterator-type"},
    "get-records": {"--shard-iterator"},
}


def parse(argv):
    if len(argv) < 2 or argv[0] != "kinesis" or argv[1] not in VALUE_OPTIONS:
        raise CliError(252, "usage: aws [options] <command> <subcommand> [...]\n"
                       "fake-aws: %s is not faked\n" % " ".join(argv[:2]))
    op, args, i = argv[1], {}, 2
    while i < len(argv):
        a = argv[i]
        if a in GLOBAL_FLAGS:
            args[a] = True
            i += 1
        elif (a in VALUE_OPTIONS[op] or a in GLOBAL_VALUE) and i + 1 < len(argv):
            if a in args:
                raise CliError(252, "fake-aws: %s given twice\n" % a)
            args[a] = argv[i + 1]
            i += 2
        else:
            raise CliError(252, "\nusage: aws [options] <command> <subcommand> "
                           "[<subcommand> ...] [parameters]\nUnknown options: %s\n" % a)
    missing = REQUIRED[op] - set(args)
    if missing:
        raise CliError(252, "\nusage: aws ...\naws: error: the following arguments are "
                       "required: %s\n" % ", ".join(sorted(missing)))
    return op, args


def call(argv):
    op, args = parse(argv)
    with Locked():
        state = load()
        faults = state["faults"]
        url = args.get("--endpoint-url")
        if faults.get("down") or ("endpoint" in faults and url != faults["endpoint"]):
            raise CliError(255, '\nCould not connect to the endpoint URL: "%s"\n'
                           % (url or "https://kinesis.us-east-1.amazonaws.com/"))
        hook = None
        if op == "get-records":
            try:
                sid = base64.b64decode(args["--shard-iterator"][11:]).decode().split("/")[1]
            except Exception:
                sid = None
            hook = faults.get("hook", {}).get(sid)
            if isinstance(hook, str):
                hook = [1, hook]
            if hook is not None and state["calls"].get(sid, 0) + 1 == hook[0]:
                hook = hook[1]
                del faults["hook"][sid]
                save(state)
            else:
                hook = None
    if hook is not None:
        subprocess.run(["sh", "-c", hook], check=False)
    conf = profile()
    wire = conf.get("cli_timestamp_format") == "wire"
    with Locked():
        state = load()
        try:
            if op == "list-shards":
                out = list_shards(state, args)
            elif op == "get-shard-iterator":
                out = get_shard_iterator(state, args)
            else:
                out = get_records(state, args, wire)
        finally:
            # Faults used up and calls counted stay so, also when the call failed.
            save(state)
    fmt = args.get("--output", conf.get("output", "json"))
    if fmt == "json":
        sys.stdout.write(json.dumps(out, indent=4, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(text_output(out))


# --- admin ---------------------------------------------------------------------------------

HASH_MAX = 2 ** 128 - 1


def next_seq(state):
    state["seq"] += 1
    return str(BASE_SEQ + 2 * state["seq"])


def add_shard(state, stream, lo, hi, parent=None, adjacent=None):
    s = {"ShardId": shard_id(len(stream["shards"])), "StartingHashKey": str(lo),
         "EndingHashKey": str(hi), "StartingSequenceNumber": next_seq(state), "records": []}
    if parent:
        s["ParentShardId"] = parent
    if adjacent:
        s["AdjacentParentShardId"] = adjacent
    stream["shards"].append(s)
    return s


def close(state, s):
    if s.get("EndingSequenceNumber"):
        raise SystemExit("fake-aws: %s is closed already" % s["ShardId"])
    s["EndingSequenceNumber"] = next_seq(state)


def admin(argv):
    cmd = argv[0]
    if cmd == "create":
        state = {"streams": {}, "seq": 0, "issued": 0, "calls": {}, "expired_below": {},
                 "faults": {}, "record": 0}
        if os.path.exists(STATE):
            state = load()
        n = int(argv[2])
        stream = state["streams"][argv[1]] = {"shards": []}
        step = (HASH_MAX + 1) // n
        for i in range(n):
            add_shard(state, stream, i * step, HASH_MAX if i == n - 1 else (i + 1) * step - 1)
        save(state)
        return
    with Locked():
        state = load()
        if cmd == "put":
            stream = state["streams"][argv[1]]
            s = [x for x in stream["shards"] if x["ShardId"] == argv[2]][0]
            if s.get("EndingSequenceNumber"):
                raise SystemExit("fake-aws: cannot put into closed shard %s" % argv[2])
            for _ in range(int(argv[3])):
                r = state["record"]
                state["record"] += 1
                events = [{"page": PAGES[r % len(PAGES)], "n": (r * 7 + k) % 11, "id": r}
                          for k in range(r % 3 + 1)]
                if r % 2:
                    payload = "\n".join(json.dumps(e, ensure_ascii=False) for e in events)
                else:
                    payload = json.dumps(events, ensure_ascii=False)
                s["records"].append({"SequenceNumber": next_seq(state),
                                     "Data": base64.b64encode(payload.encode()).decode(),
                                     "PartitionKey": "pk-%d" % r,
                                     "ts": FIRST_ARRIVAL + 60 * r})
        elif cmd == "split":
            stream = state["streams"][argv[1]]
            s = [x for x in stream["shards"] if x["ShardId"] == argv[2]][0]
            close(state, s)
            lo, hi = int(s["StartingHashKey"]), int(s["EndingHashKey"])
            mid = (lo + hi) // 2
            add_shard(state, stream, lo, mid, parent=s["ShardId"])
            add_shard(state, stream, mid + 1, hi, parent=s["ShardId"])
        elif cmd == "merge":
            stream = state["streams"][argv[1]]
            a = [x for x in stream["shards"] if x["ShardId"] == argv[2]][0]
            b = [x for x in stream["shards"] if x["ShardId"] == argv[3]][0]
            close(state, a)
            close(state, b)
            lo = min(int(a["StartingHashKey"]), int(b["StartingHashKey"]))
            hi = max(int(a["EndingHashKey"]), int(b["EndingHashKey"]))
            add_shard(state, stream, lo, hi, parent=a["ShardId"], adjacent=b["ShardId"])
        elif cmd == "fault":
            for k, v in json.loads(argv[1]).items():
                if isinstance(v, dict) and isinstance(state["faults"].get(k), dict):
                    state["faults"][k].update(v)
                else:
                    state["faults"][k] = v
        elif cmd == "counts":
            default = argv[1:2] == ["--default"]
            if default:
                argv = argv[1:]
            counts = collections.Counter()
            for stream in state["streams"].values():
                for s in stream["shards"]:
                    if argv[1:] and s["ShardId"] not in argv[1:]:
                        continue
                    for r in s["records"]:
                        text = base64.b64decode(r["Data"]).decode()
                        if text.startswith("["):
                            events = json.loads(text)
                        else:
                            events = [json.loads(line) for line in text.split("\n")]
                        day = datetime.datetime.fromtimestamp(
                            r["ts"], datetime.timezone.utc).strftime("%Y-%m-%d")
                        for e in events:
                            if default:
                                # kincount's default template, for events with no
                                # section, element or action.
                                counts["%s:%s:::_%d" % (day, e["page"], e["id"])] += 1
                                continue
                            counts["%s:%s" % (day, e["page"])] += 1
                            counts["p:%s:%d" % (e["page"], e["n"])] += 1
            out = sys.stdout.buffer
            for k in sorted(counts, key=lambda x: x.encode()):
                out.write(("%s\t%d\n" % (k, counts[k])).encode())
            return
        else:
            raise SystemExit("fake-aws: unknown admin command %s" % cmd)
        save(state)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["admin"]:
        admin(argv[1:])
        return 0
    log = os.environ.get("FAKE_AWS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"argv": argv, "auth_env": "REDISCLI_AUTH" in os.environ,
                                "pid": os.getpid(), "ppid": os.getppid()}) + "\n")
    try:
        call(argv)
    except CliError as e:
        sys.stderr.write(e.text)
        return e.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
