// The Kinesis emulator for the end-to-end test: kinesalite in memory, listening on 127.0.0.1
// only, on a port the kernel picks (so two runs never race for one).  It writes the port to the
// file named by its argument once it listens (written whole, then renamed, so a reader never
// sees half of it) and runs until it is sent SIGTERM.
'use strict'
const fs = require('fs')
const kinesalite = require('kinesalite')

const portFile = process.argv[2]
if (!portFile) {
  console.error('usage: node kinesalite.js PORT_FILE')
  process.exit(2)
}
// Streams become ACTIVE after 50 ms instead of 500 ms: the test waits for them.
const server = kinesalite({ createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50 })
server.on('error', (err) => {
  console.error('kinesalite: ' + err.message)
  process.exit(1)
})
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port) + '\n')
  fs.renameSync(portFile + '.tmp', portFile)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
