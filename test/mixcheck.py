#!/usr/bin/env python3
"""mixcheck.py KINCOUNT SEED N: N random streams, each a random mix of Lambda events,
get-records pages, Firehose events and plain JSON payloads (compact or indented, sometimes
gzipped), some documents cut short; kincount's keys compared with keys worked out here,
independently, from the documents as generated.  The template shows every piece of record
metadata, so a value leaking from one document or record into another shows.  Exits 1 at
the first difference, printing the stream and both outputs."""
import base64, gzip, json, random, subprocess, sys

kc, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
TEMPLATE = "{@stream}|{@region}|{@shard_id}|{@partition_key}|{@sequence_number}|{page}"


def word():
    return rnd.choice(["a", "b", "cart", "home", "x-1", "\u00e9t\u00e9", ""])


def payload():
    p = {"page": word()}
    if rnd.random() < 0.3:
        p["other"] = {"records": [], "Records": [1]}
    return p


def b64(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


seq = [100]


def nextseq():
    seq[0] += rnd.randint(1, 5)
    return str(seq[0])


def lambda_doc():
    recs, keys = [], []
    for _ in range(rnd.randint(1, 3)):
        p, s, pk = payload(), nextseq(), word()
        stream, region, shard = rnd.choice(["s1", "s2"]), rnd.choice(["us-east-1", "eu-west-1"]), rnd.choice(["shardId-0", "shardId-1"])
        r = {"kinesis": {"partitionKey": pk, "sequenceNumber": s, "data": b64(p),
                         "approximateArrivalTimestamp": 1545084650.987},
             "eventSource": "aws:kinesis", "eventID": shard + ":" + s,
             "eventSourceARN": "arn:aws:kinesis:%s:1:stream/%s" % (region, stream)}
        if rnd.random() < 0.5:
            r["awsRegion"] = region
        recs.append(r)
        keys.append("|".join([stream, region, shard, pk, s, p["page"]]))
    return {"Records": recs}, keys


def gr_doc():
    recs, keys = [], []
    for _ in range(rnd.randint(0, 3)):
        p, s, pk = payload(), nextseq(), word()
        recs.append({"SequenceNumber": s, "ApproximateArrivalTimestamp": 1545084650.987,
                     "Data": b64(p), "PartitionKey": pk})
        keys.append("|".join(["", "", "", pk, s, p["page"]]))
    return {"Records": recs, "NextShardIterator": "AAAA", "MillisBehindLatest": 0}, keys


def fh_doc():
    recs, keys = [], []
    stream, region = rnd.choice(["f1", "f2"]), rnd.choice(["us-west-2", "ap-south-1"])
    has_arn = rnd.random() < 0.5
    for _ in range(rnd.randint(1, 3)):
        p, s, pk, shard = payload(), nextseq(), word(), rnd.choice(["shardId-7", "shardId-8"])
        r = {"recordId": s + "000000", "approximateArrivalTimestamp": 1507217624302, "data": b64(p)}
        if rnd.random() < 0.7:
            r["kinesisRecordMetadata"] = {"shardId": shard, "partitionKey": pk, "sequenceNumber": s,
                                          "subsequenceNumber": 0,
                                          "approximateArrivalTimestamp": 1507217624302}
            meta = [shard, pk, s]
        else:
            meta = ["", "", ""]
        recs.append(r)
        keys.append("|".join([stream if has_arn else "", region] + meta + [p["page"]]))
    d = {"invocationId": "i", "deliveryStreamArn": "arn:aws:firehose:x:1:deliverystream/d"}
    if has_arn:
        d["sourceKinesisStreamArn"] = "arn:aws:kinesis:%s:1:stream/%s" % (region, stream)
    d["region"] = region
    d["records"] = recs
    return d, keys


def json_doc():
    p = payload()
    return p, ["|".join(["", "", "", "", "", p["page"]])]


for it in range(count):
    indent = rnd.random() < 0.5
    docs, expected = [], []
    for _ in range(rnd.randint(1, 8)):
        d, keys = rnd.choice([lambda_doc, gr_doc, fh_doc, json_doc])()
        text = json.dumps(d, indent=4 if indent else None)
        if rnd.random() < 0.1 and len(text) > 2:
            text = text[:rnd.randint(1, len(text) - 1)]   # cut short: lost, nothing else
            cut = True
        else:
            expected += keys
            cut = False
        docs.append(text)
    data = ("\n".join(docs) + "\n").encode()
    if rnd.random() < 0.2:
        data = gzip.compress(data)
    p = subprocess.run([kc, "-k", TEMPLATE], input=data, capture_output=True)
    out = p.stdout.decode().splitlines()
    if out != expected:
        print("stream %d differs\ninput:\n%s\nexpected:\n%s\ngot:\n%s\nstderr:\n%s" % (
            it, "\n".join(docs), "\n".join(expected), "\n".join(out), p.stderr.decode()))
        sys.exit(1)
print(count)
