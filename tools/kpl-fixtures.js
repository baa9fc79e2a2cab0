#!/usr/bin/env node
// Makes the KPL aggregates of fixtures/kpl with the npm package aws-kinesis-agg (the
// awslabs/kinesis-aggregation Node module), so the fixtures come from a real aggregator, not
// from kincount's own idea of the format.  How they were made:
//
//   mkdir -p /tmp/agg && cd /tmp/agg && npm install aws-kinesis-agg@4.2.8
//   NODE_PATH=/tmp/agg/node_modules node tools/kpl-fixtures.js fixtures/kpl
//   python3 tools/kpl-expected.py fixtures/kpl/*.agg     # the .expected files
//
// Every key and datum is fixed here, and gzip output has mtime 0, so a run gives the same
// bytes.  Explicit hash keys are all above 2^32: the package keeps its key tables as plain
// objects and reads them back with Object.keys, which puts keys that look like array
// indexes (decimal strings below 2^32 - 1) first, in numeric order, so small ones would
// be written to the table in another order than the indexes it gave the records.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { RecordAggregator } = require('aws-kinesis-agg');

const out = process.argv[2];
if (!out) {
	console.error('usage: kpl-fixtures.js OUTDIR');
	process.exit(2);
}

// aggregate(records) -> the aggregate's bytes, made by the package.
function aggregate(records) {
	const agg = new RecordAggregator();
	for (const r of records)
		agg.addUserRecord(r);
	return agg.build().data;
}

function write(name, bytes) {
	fs.writeFileSync(path.join(out, name + '.agg'), bytes);
}

const click = (i, page) => JSON.stringify({ ts: 1450310400000 + i * 1000, page: page,
	section: 'hero', element: 'tile', action: 'click', id: 1000 + i });

// Several partition keys, shared by several records, no explicit hash key.
const several = aggregate([
	{ partitionKey: 'user-a', data: click(0, 'home') },
	{ partitionKey: 'user-b', data: click(1, 'cart') },
	{ partitionKey: 'user-a', data: click(2, 'product') },
	{ partitionKey: 'user-c', data: click(3, 'home') },
	{ partitionKey: 'user-b', data: click(4, 'checkout') },
]);
write('several-pks', several);

// Explicit hash keys on some records only, two of them shared; the first record has none,
// so a deaggregator that hands every sub-record the table's first key is caught.
const EHK1 = '340282366920938463463374607431768211455';	// 2^128 - 1
const EHK2 = '170141183460469231731687303715884105728';	// 2^127
write('ehk-some', aggregate([
	{ partitionKey: 'user-a', data: click(10, 'home') },
	{ partitionKey: 'user-b', data: click(11, 'cart'), explicitHashKey: EHK1 },
	{ partitionKey: 'user-a', data: click(12, 'cart'), explicitHashKey: EHK2 },
	{ partitionKey: 'user-c', data: click(13, 'home') },
	{ partitionKey: 'user-b', data: click(14, 'search'), explicitHashKey: EHK1 },
	{ partitionKey: 'user-d', data: click(15, 'orders'), explicitHashKey: EHK2 },
]));

// 50 records: 7 partition keys, an explicit hash key on every fifth record (three keys).
const pages = ['home', 'product', 'cart', 'search', 'category', 'checkout', 'account'];
const fifty = [];
for (let i = 0; i < 50; i++) {
	const r = { partitionKey: 'u' + String((i * 7919) % 7).padStart(6, '0'),
		data: click(100 + i, pages[(i * 3) % pages.length]) };
	if (i % 5 === 4)
		r.explicitHashKey = String(BigInt('85070591730234615865843651857942052864') *
			BigInt(1 + Math.floor(i / 5) % 3));
	fifty.push(r);
}
write('fifty', aggregate(fifty));

// A flipped bit in the last byte of the MD5 of several-pks.
const flipped = Buffer.from(several);
flipped[flipped.length - 1] ^= 0x01;
write('bad-md5', flipped);

// Sub-records that are not JSON: gzipped JSON, plain text, binary bytes, nothing at all.
write('not-json', aggregate([
	{ partitionKey: 'gz', data: zlib.gzipSync(Buffer.from(click(200, 'home')), { level: 6 }) },
	{ partitionKey: 'text', data: Buffer.from('not json at all') },
	{ partitionKey: 'bin', data: Buffer.from([0x00, 0xff, 0xf3, 0x89, 0x9a, 0xc2, 0x0a]) },
	{ partitionKey: 'text', data: Buffer.alloc(0) },
	{ partitionKey: 'gz', data: click(201, 'cart') },
]));
