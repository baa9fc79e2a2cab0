#!/usr/bin/env python3
"""tools/cwl-keys.py GZ KEYS REJECTS: the keys kincount should make from one record whose data
is the file GZ, for the template {@log_group}|{@log_stream}|{@log_event_id}|{@time:%s}|{user}
(with --missing empty), worked out with python3's gzip and json modules alone.  Writes one key
per line to KEYS, and to REJECTS one line per rejection: "record" (the whole record) or
"logEvents[I]" (that one log event).  The rules (issue 8, SPEC "Record data -> events" 3):

- Data that does not inflate (truncated, bad CRC, garbage after the last member) rejects the
  record.
- A JSON object whose "messageType" is "DATA_MESSAGE" or "CONTROL_MESSAGE" is a CloudWatch
  Logs message (any other is the payload itself, below).  A CONTROL_MESSAGE gives nothing.
  A DATA_MESSAGE whose logEvents is not an array, or whose logGroup or logStream is there
  but not a string, rejects the record (a missing one is empty).  Each log event gives one event when its message is a
  string holding a JSON object and its timestamp a JSON integer (epoch ms; the event time is
  it floored to seconds); else that one log event is rejected.  A missing id is empty.
- Anything else is the payload itself: a JSON object is one event with empty log metadata and
  the record's arrival time, taken here as 1450310400.5 (the default of lambda_event in
  test/helper.bash), so {@time:%s} is 1450310400.
- {user}: a string as its text, a number as written, true/false, empty when missing or null;
  an object or an array rejects that event.
"""
import gzip
import json
import sys

ARRIVAL = 1450310400


class Num(str):
    """A JSON number kept as written."""


def loads(text):
    return json.loads(text, parse_int=Num, parse_float=Num, parse_constant=Num)


def field(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (dict, list)):
        raise ValueError("field is an object or array")
    return str(v)


def main():
    gz, keys_path, rejects_path = sys.argv[1:4]
    keys, rejects = [], []
    try:
        doc = loads(gzip.decompress(open(gz, "rb").read()).decode("utf-8"))
    except (OSError, EOFError, ValueError, UnicodeDecodeError):
        doc = None
        rejects.append("record")
    if isinstance(doc, dict) and doc.get("messageType") in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        group, stream = doc.get("logGroup", ""), doc.get("logStream", "")
        events = doc.get("logEvents")
        if doc["messageType"] == "CONTROL_MESSAGE":
            pass
        elif (not isinstance(events, list) or not isinstance(group, str)
              or not isinstance(stream, str)):
            rejects.append("record")
        else:
            for i, le in enumerate(events):
                try:
                    if not isinstance(le, dict) or not isinstance(le.get("message"), str):
                        raise ValueError("message is not a string")
                    ts = le.get("timestamp")
                    if not isinstance(ts, Num) or not ts.lstrip("-").isdigit():
                        raise ValueError("timestamp is not an integer")
                    ev = loads(le["message"])
                    if not isinstance(ev, dict):
                        raise ValueError("message is not a JSON object")
                    lid = le.get("id", "")
                    if not isinstance(lid, str):
                        raise ValueError("id is not a string")
                    keys.append("%s|%s|%s|%d|%s" % (group, stream, lid, int(ts) // 1000,
                                                    field(ev.get("user"))))
                except ValueError:
                    rejects.append("logEvents[%d]" % i)
    elif isinstance(doc, dict):
        try:
            keys.append("|||%d|%s" % (ARRIVAL, field(doc.get("user"))))
        except ValueError:
            rejects.append("record")
    elif doc is not None:
        rejects.append("record")
    with open(keys_path, "w", encoding="utf-8") as f:
        f.write("".join(k + "\n" for k in keys))
    with open(rejects_path, "w", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rejects))


main()
