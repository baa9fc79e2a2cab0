# Loaded by every test file: bats-support, bats-assert, the binary under test, a fixed locale
# and time zone, and small helpers shared by the topic files.
bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

KINCOUNT=${KINCOUNT:-$BATS_TEST_DIRNAME/../kincount}
FIXTURES=${FIXTURES:-$BATS_TEST_DIRNAME/../fixtures}
export LC_ALL=C TZ=UTC
unset REDISCLI_AUTH

# b64 TEXT: the standard base64 of TEXT, on one line (coreutils, independent of kincount).
b64() {
	printf '%s' "$1" | base64 -w0
}

# lambda_event SEQ PAYLOAD [ARRIVAL]: one Lambda event with one record, on one line.
lambda_event() {
	local seq=$1 data arrival=${3:-1450310400.5}
	data=$(b64 "$2")
	printf '{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk-%s","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":%s},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:%s","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/r","awsRegion":"us-east-1","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}]}\n' \
		"$seq" "$seq" "$data" "$arrival" "$seq"
}
