#!/usr/bin/env python3
"""cutcheck.py KINCOUNT FORMAT LAYOUT [STEP]: cut one document of a stream at every offset
(or every STEP-th) and check that kincount loses exactly that document and nothing else.

FORMAT is lambda, get-records, firehose or json; LAYOUT is compact (one document per line)
or indent (json.dumps indent=4, as the aws CLI and jq print).  Three documents of two
records each are written; the middle one is cut short.  The expected keys are worked out
here from the documents that are whole: the sequence numbers (or, for json, the field n) of
their events, in order.  kincount must print exactly those, report one rejection, and exit 1.
Prints the number of cuts checked; exits 1 at the first wrong one, saying which."""
import base64, json, subprocess, sys

kc, fmt, layout = sys.argv[1], sys.argv[2], sys.argv[3]
step = int(sys.argv[4]) if len(sys.argv) > 4 else 1


def b64(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


def doc(k):
    seqs = [str(1000 + 2 * k), str(1001 + 2 * k)]
    if fmt == 'lambda':
        d = {"Records": [{"kinesis": {"partitionKey": "pk", "sequenceNumber": s,
             "data": b64({"n": s}), "approximateArrivalTimestamp": 1545084650.987},
             "eventSource": "aws:kinesis", "eventID": "shardId-000000000000:" + s,
             "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}
             for s in seqs]}
    elif fmt == 'get-records':
        d = {"Records": [{"SequenceNumber": s, "ApproximateArrivalTimestamp": 1545084650.987,
             "Data": b64({"n": s}), "PartitionKey": "pk"} for s in seqs],
             "NextShardIterator": "AAAA", "MillisBehindLatest": 0}
    elif fmt == 'firehose':
        d = {"invocationId": "i", "region": "us-east-1",
             "records": [{"recordId": s + "000000", "approximateArrivalTimestamp": 1507217624302,
                          "data": b64({"n": s})} for s in seqs]}
    else:
        d = [{"n": s} for s in seqs]
    return seqs, (json.dumps(d, indent=4) if layout == 'indent' else json.dumps(d))


docs = [doc(k) for k in range(3)]
expected = "".join(s + "\n" for s in docs[0][0] + docs[2][0])
cut = docs[1][1]
n = 0
for off in range(1, len(cut), step):
    text = docs[0][1] + "\n" + cut[:off] + "\n" + docs[2][1] + "\n"
    p = subprocess.run([kc, "-f", "auto", "-k", "{n}"], input=text.encode(),
                       capture_output=True)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    if out != expected or p.returncode != 1 or not err.endswith("kincount: 1 rejected (invalid JSON: 1)\n"):
        print("cut at %d (%r): exit %d\nstdout:\n%s\nstderr:\n%s" %
              (off, cut[max(0, off - 20):off], p.returncode, out, err))
        sys.exit(1)
    n += 1
print(n)
