#!/usr/bin/env python3
"""kplgen.py SPEC: print the base64 of a KPL aggregate built from SPEC, a JSON object
{"pks": [...], "ehks": [...], "records": [{"pk": I, "ehk": J or absent, "data": TEXT,
"gzip": true or absent}], "md5": "flip" or absent}: the magic f3 89 9a c2, the protobuf
AggregatedRecord written here by hand from the wire format, and the MD5 of the protobuf.
Independent of kincount (which reads aggregates with its own code)."""
import base64, gzip, hashlib, json, sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


spec = json.loads(sys.argv[1])
pb = b""
for pk in spec.get("pks", []):
    pb += field(1, 2, pk.encode())
for ehk in spec.get("ehks", []):
    pb += field(2, 2, ehk.encode())
for r in spec.get("records", []):
    data = r["data"].encode()
    if r.get("gzip"):
        data = gzip.compress(data, mtime=0)
    rec = field(1, 0, r["pk"])
    if "ehk" in r:
        rec += field(2, 0, r["ehk"])
    rec += field(3, 2, data)
    pb += field(3, 2, rec)
md5 = bytearray(hashlib.md5(pb).digest())
if spec.get("md5") == "flip":
    md5[0] ^= 1
sys.stdout.write(base64.b64encode(b"\xf3\x89\x9a\xc2" + pb + bytes(md5)).decode())
