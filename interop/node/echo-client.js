#!/usr/bin/env node
'use strict';
// Node `ws` echo client for wsproto's interop tests.
//
//   node echo-client.js [--mode default|no-context-takeover|small-windows|plain] URL SCRIPT
//
// Connects to URL (ws clients offer permessage-deflate by default), prints the negotiated
// Sec-WebSocket-Extensions, then for each line of SCRIPT sends one message and waits for its echo:
//
//   text PATH [FRAGMENT]      the bytes of PATH (UTF-8) as a text message
//   binary PATH [FRAGMENT]    the bytes of PATH as a binary message
//
// With FRAGMENT the message goes out in frames of FRAGMENT bytes (`send(..., { fin: false })`; text is split at
// byte boundaries, so a frame may end inside a code point), with a ping between the first two frames. Blank
// lines and lines starting with # are ignored.
//
// Prints `extensions: VALUE` (the response header) and `negotiated: NAMES` (ws.extensions), then
// `ok N KIND LEN bytes` per echo, `pongs: N` (pongs to the pings between fragments), `wire: read R written W
// payload P` (socket bytes both ways, payload bytes one way) and `closed CODE REASON`. On a wrong echo prints `MISMATCH ...` and exits 1; on any other failure
// (handshake, timeout, closed connection) prints `error: ...` and exits non-zero.

const fs = require('fs');
const { loadWs, perMessageDeflate, parseArgs, MODES, MAX_PAYLOAD } = require('./peer');

const TIMEOUT_MS = 30000;
const { mode, args } = parseArgs(`echo-client.js [--mode ${MODES}] URL SCRIPT`, 2);
const [url, script] = args;
const WebSocket = loadWs();

function fail(msg) {
  console.log(`error: ${msg}`);
  process.exit(1);
}

function readScript(path) {
  const steps = [];
  fs.readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const parts = line.split(/\s+/);
      if (!['text', 'binary'].includes(parts[0]) || parts.length < 2 || parts.length > 3) {
        fail(`${path}:${i + 1}: expected \`text|binary PATH [FRAGMENT]\`, got ${JSON.stringify(line)}`);
      }
      const data = fs.readFileSync(parts[1]);
      const fragment = parts.length === 3 ? Number(parts[2]) : null;
      if (fragment !== null && !(fragment > 0 && data.length > 0)) {
        fail(`${path}:${i + 1}: a fragmented message needs a positive size and some data`);
      }
      steps.push({ kind: parts[0], data, fragment });
    });
  return steps;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

const steps = readScript(script);
const ws = new WebSocket(url, { perMessageDeflate: perMessageDeflate(mode, 'client'), maxPayload: MAX_PAYLOAD });
const received = [];
let waiting = null;
let socket = null;
let closing = false;
let pongs = 0;

ws.on('upgrade', (res) => {
  socket = res.socket;
  console.log(`extensions: ${res.headers['sec-websocket-extensions'] || ''}`);
});
ws.on('error', (e) => fail(e.message));
ws.on('pong', (data) => {
  if (data.toString() === 'mid-fragment') pongs += 1;
});
ws.on('close', (code, reason) => {
  if (!closing) fail(`the connection closed early: ${code} ${reason}`);
  console.log(`closed ${code} ${reason}`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on('message', (data, isBinary) => {
  received.push({ kind: isBinary ? 'binary' : 'text', data });
  if (waiting) waiting();
});

function nextMessage() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no echo within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const check = () => {
      if (received.length > 0) {
        clearTimeout(timer);
        waiting = null;
        resolve(received.shift());
      }
    };
    waiting = check;
    check();
  });
}

function send(data, opts) {
  return new Promise((resolve, reject) => ws.send(data, opts, (e) => (e ? reject(e) : resolve())));
}

ws.on('open', async () => {
  console.log(`negotiated: ${ws.extensions}`);
  let payload = 0;
  try {
    for (const [i, { kind, data, fragment }] of steps.entries()) {
      const binary = kind === 'binary';
      if (fragment) {
        for (let off = 0; off < data.length; off += fragment) {
          const last = off + fragment >= data.length;
          await send(data.subarray(off, off + fragment), { binary, fin: last });
          // A control frame in the middle of a (compressed) fragmented message.
          if (off === 0) ws.ping('mid-fragment');
        }
      } else {
        await send(data, { binary });
      }
      payload += data.length;
      const got = await nextMessage();
      if (got.kind !== kind || !got.data.equals(data)) {
        console.log(
          `MISMATCH ${i + 1}: sent ${kind} ${data.length} bytes, received ${got.kind} ${got.data.length} bytes, ` +
            `first difference at byte ${firstDifference(data, got.data)}`,
        );
        process.exit(1);
      }
      console.log(`ok ${i + 1} ${kind} ${data.length} bytes${fragment ? ` in frames of ${fragment}` : ''}`);
    }
  } catch (e) {
    fail(e.message);
  }
  console.log(`pongs: ${pongs}`);
  console.log(`wire: read ${socket.bytesRead} written ${socket.bytesWritten} payload ${payload}`);
  setTimeout(() => fail(`no close within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();
  closing = true;
  ws.close(1000, 'done');
});
