'use strict';
// What the Node peers share: loading `ws` from the cache dir that interop/install.sh fills, and the
// permessage-deflate settings per mode.

const os = require('os');
const path = require('path');

const home = process.env.WSPROTO_INTEROP_HOME || path.join(os.homedir(), '.cache', 'wsproto-interop');

function loadWs() {
  const dir = path.join(home, 'node', 'node_modules', 'ws');
  try {
    return require(dir);
  } catch (e) {
    console.error(`cannot load ws from ${dir}: run interop/install.sh (${e.message})`);
    process.exit(2);
  }
}

const MODES = 'default|no-context-takeover|small-windows|plain';

// `perMessageDeflate` for a mode. ws clients offer permessage-deflate by default; ws servers accept it only
// when asked to, so the server's default mode enables it.
function perMessageDeflate(mode, role) {
  switch (mode) {
    case 'default':
      return true;
    case 'plain':
      return false;
    case 'no-context-takeover': {
      const o = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10 };
      if (role === 'client') o.clientMaxWindowBits = 10;
      return o;
    }
    case 'small-windows':
      // 8-bit windows both ways (Node's zlib compresses with 9 when asked for 8, which it documents as safe).
      return { serverMaxWindowBits: 8, clientMaxWindowBits: 8 };
    default:
      console.error(`unknown mode ${mode} (${MODES})`);
      process.exit(2);
  }
}

// Parses `[--mode MODE] ARG...`.
function parseArgs(usage, count) {
  const args = process.argv.slice(2);
  let mode = 'default';
  const i = args.indexOf('--mode');
  if (i >= 0) {
    mode = args[i + 1];
    args.splice(i, 2);
  }
  if (args.length !== count || mode === undefined) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return { mode, args };
}

module.exports = { loadWs, perMessageDeflate, parseArgs, MODES, MAX_PAYLOAD: 64 * 1024 * 1024 };
