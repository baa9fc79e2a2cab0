// KPL aggregation for the end-to-end test, with the npm package aws-kinesis-agg (the
// aggregator AWS publishes), so the aggregates kincount reads are made by other hands than
// its own fixtures.  Reads JSON lines on stdin, each an array of user records
// {"partitionKey": TEXT, "data": TEXT}; for each line writes one JSON line
// {"partitionKey": TEXT, "data": BASE64}: the aggregate to put as one Kinesis record.  A group
// that the aggregator splits (over 1 MiB) or that fails is an error: exit 1.
'use strict'
const agg = require('aws-kinesis-agg')
const readline = require('readline')

function aggregateOne (records) {
  return new Promise((resolve, reject) => {
    const out = []
    agg.aggregate(records, (encoded, callback) => {
      out.push({ partitionKey: encoded.partitionKey, data: encoded.data.toString('base64') })
      callback(null, {})
    }, () => {
      if (out.length !== 1) {
        reject(new Error('the aggregator made ' + out.length + ' records of one group'))
      } else {
        resolve(out[0])
      }
    }, (err) => reject(err))
  })
}

async function main () {
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === '') continue
    const group = JSON.parse(line)
    process.stdout.write(JSON.stringify(await aggregateOne(group)) + '\n')
  }
}

main().catch((err) => {
  console.error('agg.js: ' + (err && err.message ? err.message : err))
  process.exit(1)
})
