#!/usr/bin/env python3
"""Works out the sub-records of KPL aggregates independently of kincount's kpl.c: its own
protobuf wire reader, hashlib's MD5, and the schema of FORMATS.md section 5 (proto2
AggregatedRecord).  Prints, per sub-record, INDEX<TAB>PK<TAB>EHK or -<TAB>base64(DATA), as
test/unit-kpl.c does, or one line "bad KPL aggregate: REASON".

    tools/kpl-expected.py FILE.agg            print to stdout
    tools/kpl-expected.py -w FILE.agg...      write each FILE.expected beside it
"""
import base64
import hashlib
import sys

MAGIC = bytes.fromhex("f3899ac2")


class Bad(Exception):
    pass


def varint(b, i):
    shift = value = 0
    for n in range(10):
        if i >= len(b):
            raise Bad("truncated varint")
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            if value >= 1 << 64:
                raise Bad("varint overflows 64 bits")
            return value, i
    raise Bad("varint longer than 10 bytes")


def fields(b):
    """(field number, wire type, value) for each field of one message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise Bad("bad field number")
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            if n > len(b) - i:
                raise Bad("length past the end")
            v, i = b[i:i + n], i + n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            if n > len(b) - i:
                raise Bad("truncated fixed-size field")
            v, i = b[i:i + n], i + n
        else:
            raise Bad("wire type %d" % wt)
        yield num, wt, v


def decode(blob):
    if len(blob) <= 20 or blob[:4] != MAGIC:
        raise Bad("not an aggregate")
    pb, digest = blob[4:-16], blob[-16:]
    if hashlib.md5(pb).digest() != digest:
        raise Bad("MD5 mismatch")
    pks, ehks, records = [], [], []
    for num, wt, v in fields(pb):
        if num in (1, 2, 3) and wt != 2:
            raise Bad("wrong wire type")
        if num == 1:
            pks.append(v)
        elif num == 2:
            ehks.append(v)
        elif num == 3:
            rec = {}
            for rnum, rwt, rv in fields(v):
                if rnum in (1, 2) and rwt != 0 or rnum in (3, 4) and rwt != 2:
                    raise Bad("wrong wire type")
                if rnum == 4:
                    if not any(t == 1 for t, _, _ in fields(rv)):
                        raise Bad("tag without key")
                elif rnum in (1, 2, 3):
                    rec[rnum] = rv
            if 1 not in rec or 3 not in rec:
                raise Bad("missing required field")
            records.append(rec)
    if not records:
        raise Bad("no records")
    out = []
    for i, rec in enumerate(records):
        if rec[1] >= len(pks):
            raise Bad("record %d: partition key index out of range" % i)
        if 2 in rec and rec[2] >= len(ehks):
            raise Bad("record %d: explicit hash key index out of range" % i)
        ehk = ehks[rec[2]].decode() if 2 in rec else "-"
        out.append("%d\t%s\t%s\t%s\n" % (i, pks[rec[1]].decode(), ehk,
                                         base64.b64encode(rec[3]).decode()))
    return "".join(out)


def expected(path):
    with open(path, "rb") as f:
        blob = f.read()
    try:
        return decode(blob)
    except Bad as e:
        return "bad KPL aggregate: %s\n" % e


def main():
    args = sys.argv[1:]
    if args and args[0] == "-w":
        for path in args[1:]:
            with open(path[:-len(".agg")] + ".expected", "w") as f:
                f.write(expected(path))
    elif len(args) == 1:
        sys.stdout.write(expected(args[0]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
