#!/bin/sh
# tools/cwl-fixtures.sh: makes fixtures/cwl, the CloudWatch Logs subscription payloads of
# issue 8, from the JSON written out below: NAME.json is what a record carries once inflated,
# NAME.gz the record data, gzipped by the gzip tool as CloudWatch Logs does (level 6, -n so the
# bytes do not depend on the time), and NAME.expected-keys / NAME.expected-rejects are worked
# out from NAME.gz by tools/cwl-keys.py (python3's gzip and json modules, not kincount).
# Run from the top of the tree; it rewrites fixtures/cwl/*.{json,gz,expected-*}.
set -eu
cd "$(dirname "$0")/.."
D=fixtures/cwl
mkdir -p "$D"
gz() { gzip -n -6 -c; }
# j NAME: the JSON on stdin, without its line ends (AWS writes it on one line, with none).
j() { tr -d '\n' >"$D/$1.json"; }

# A DATA_MESSAGE with several log events whose messages are JSON objects (one has no user).
j data <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":["to-kinesis"],"logEvents":[{"id":"37480579458490841510417935670958911738223274529153351680","timestamp":1700000000123,"message":"{\"user\":\"a\",\"status\":200}"},{"id":"37480579458490841510417935670958911738223274529153351681","timestamp":1700000001999,"message":"{\"user\":\"b\",\"status\":404,\"path\":\"/x\"}"},{"id":"37480579458490841510417935670958911738223274529153351682","timestamp":1700000002000,"message":"{\"status\":500}"},{"id":"37480579458490841510417935670958911738223274529153351683","timestamp":1699999999999,"message":"{\"user\":\"c\\u00e9\",\"n\":[1,2]}"}]}
J
# One log event, whose message is a plain log line.
j notjson <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":["to-kinesis"],"logEvents":[{"id":"37480579458490841510417935670958911738223274529153351690","timestamp":1700000000123,"message":"GET /index.html 200 12ms"}]}
J
# Messages that are not JSON objects between good ones: only those log events are rejected.
j mixed <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/api","logStream":"2024/01/01/[$LATEST]abc","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1700000010000,"message":"{\"user\":\"x\"}"},{"id":"2","timestamp":1700000011000,"message":"START RequestId: 1 Version: $LATEST"},{"id":"3","timestamp":1700000012000,"message":"42"},{"id":"4","timestamp":1700000013000,"message":"{\"user\":\"y\"}"},{"id":"5","timestamp":1700000014000,"message":"{\"user\":\"z\""}]}
J
# Missing or wrongly typed fields.
j logevents-object <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":[],"logEvents":{"id":"1","timestamp":1700000000123,"message":"{\"user\":\"a\"}"}}
J
j message-number <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":1700000000123,"message":{"user":"obj"}},{"id":"2","timestamp":1700000001123,"message":7},{"id":"3","timestamp":1700000002123,"message":"{\"user\":\"ok\"}"}]}
J
j timestamp-string <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app/web","logStream":"i-0abc","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":"1700000000123","message":"{\"user\":\"s\"}"},{"id":"2","timestamp":1700000001123,"message":"{\"user\":\"ok\"}"}]}
J
j no-loggroup <<'J'
{"messageType":"DATA_MESSAGE","owner":"123456789012","logStream":"i-0abc","subscriptionFilters":[],"logEvents":[{"timestamp":1700000000123,"message":"{\"user\":\"nogroup\"}"}]}
J
# The reachability check CloudWatch Logs sends.
j control <<'J'
{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1700000000000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}
J
# gzipped JSON that is not a CloudWatch Logs message: the payload itself.
j plain <<'J'
{"user":"plain","page":"home","logGroup":"not-metadata"}
J
for n in data notjson mixed logevents-object message-number timestamp-string no-loggroup \
    control plain; do
	gz <"$D/$n.json" >"$D/$n.gz"
done

# The test vector of FORMATS.md section 6 (gzip with mtime 0), as given there.
printf '%s' 'H4sIAAAAAAACAzWPS2/DIBCE/8ueHYVnAN8s1c2pJ+dWogqnKEKJDQLcqLL837t97fEbzezMCpMvxV396TN5aOGpO3VvL/0wdMceGoiP2WfElHEhD0obQhnie7wec1wSKnuX0v7hx1861OzdhDjsiBsvCMsylksOqYY4P4d79blA+wo17m5h9iUUOP84+w8/129phfCOAVwJTaQyQmphiBZUUiKoMhxrECO1oVRxzRhnSkhmqORc0oMm+LIG3FTdhPWoIn+HC5r/rRi/WliKzxZaC85CYwEddSkIGCEbbOftC5jpe94bAQAA' |
	base64 -d >"$D/vector.gz"
gzip -dc "$D/vector.gz" >"$D/vector.json"

# data.json cut in two, each half its own member: together one message (zcat reads on).
head -c 300 "$D/data.json" | gz >"$D/concat.gz"
tail -c +301 "$D/data.json" | gz >>"$D/concat.gz"
cp "$D/data.json" "$D/concat.json"
# A member followed by zero bytes, which gzip -t accepts silently.
{ cat "$D/data.gz"; head -c 16 /dev/zero; } >"$D/padded.gz"
cp "$D/data.json" "$D/padded.json"

# Broken: NAME.json is what the data was made from; the record must be rejected.
size=$(wc -c <"$D/data.gz")
head -c $((size - 5)) "$D/data.gz" >"$D/truncated.gz"
cp "$D/data.json" "$D/truncated.json"
{ cat "$D/data.gz"; printf 'garbage\n'; } >"$D/garbage.gz"
cp "$D/data.json" "$D/garbage.json"
# The first byte of the CRC-32 (8 bytes from the end) flipped.
python3 - "$D/data.gz" "$D/badcrc.gz" <<'P'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-8] ^= 0xff
open(sys.argv[2], "wb").write(b)
P
cp "$D/data.json" "$D/badcrc.json"

for f in "$D"/*.gz; do
	python3 tools/cwl-keys.py "$f" "${f%.gz}.expected-keys" "${f%.gz}.expected-rejects"
done
