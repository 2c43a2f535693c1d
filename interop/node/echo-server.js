#!/usr/bin/env node
'use strict';
// Node `ws` echo server for wsproto's interop tests.
//
//   node echo-server.js [--mode default|no-context-takeover|small-windows|plain] PORT
//
// Listens on 127.0.0.1:PORT (0: any free port) and echoes every text and binary message unchanged. ws servers
// do not enable permessage-deflate by default: the default mode turns it on (`perMessageDeflate: true`).
//
// Prints `listening on ws://127.0.0.1:PORT` (the bound port), then for each connection `offered: VALUE` (the
// client's Sec-WebSocket-Extensions), `extensions: VALUE` (the answer) and, when it ends,
// `wire: read R written W` (the socket's bytes) and `closed: CODE REASON, N messages echoed`.

const { loadWs, perMessageDeflate, parseArgs, MODES, MAX_PAYLOAD } = require('./peer');

const { mode, args } = parseArgs(`echo-server.js [--mode ${MODES}] PORT`, 1);
const { WebSocketServer } = loadWs();

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(args[0]),
  perMessageDeflate: perMessageDeflate(mode, 'server'),
  maxPayload: MAX_PAYLOAD,
});

wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));

wss.on('headers', (headers, req) => {
  const answer = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  console.log(`offered: ${req.headers['sec-websocket-extensions'] || ''}`);
  console.log(`extensions: ${answer ? answer.slice(answer.indexOf(':') + 1).trim() : ''}`);
});

wss.on('connection', (ws, req) => {
  const socket = req.socket;
  let n = 0;
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
    n += 1;
  });
  ws.on('error', (e) => console.log(`error: ${e.message}`));
  ws.on('close', (code, reason) => {
    console.log(`wire: read ${socket.bytesRead} written ${socket.bytesWritten}`);
    console.log(`closed: ${code} ${reason}, ${n} messages echoed`);
  });
});
