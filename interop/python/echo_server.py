#!/usr/bin/env python3
"""python `websockets` echo server for wsproto's interop tests.

    echo_server.py [--mode default|no-context-takeover|small-windows|plain] PORT

Listens on 127.0.0.1:PORT (0: any free port) and echoes every text and binary message unchanged.
websockets enables permessage-deflate by default on the server (window bits 12 both ways).

Prints `listening on ws://127.0.0.1:PORT` (the bound port), then for each connection
`offered: VALUE` (the client's Sec-WebSocket-Extensions), `extensions: VALUE` (the answer) and, when it
ends, `closed: CODE REASON, N messages echoed`.
"""

import argparse
import asyncio

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

MAX_SIZE = 64 * 2**20


def options(mode):
    if mode == "default":
        return {}
    if mode == "plain":
        return {"compression": None}
    if mode == "no-context-takeover":
        factory = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=10,
        )
        return {"compression": None, "extensions": [factory]}
    if mode == "small-windows":
        # The smallest windows websockets supports: it cannot compress with 8 bits (zlib refuses wbits=-8), but
        # may ask the client to.
        factory = ServerPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=8)
        return {"compression": None, "extensions": [factory]}
    raise SystemExit(f"unknown mode {mode!r}")


async def echo(ws):
    print("offered:", ws.request.headers.get("Sec-WebSocket-Extensions", ""), flush=True)
    print("extensions:", ws.response.headers.get("Sec-WebSocket-Extensions", ""), flush=True)
    n = 0
    try:
        async for message in ws:
            await ws.send(message)
            n += 1
    except ConnectionClosed:
        pass  # reported below, with the close code (1006 if the connection dropped)
    print(f"closed: {ws.close_code} {ws.close_reason}, {n} messages echoed", flush=True)


async def run(port, mode):
    async with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, **options(mode)) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{bound}", flush=True)
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="default", choices=["default", "no-context-takeover", "small-windows", "plain"])
    p.add_argument("port", type=int)
    a = p.parse_args()
    try:
        asyncio.run(run(a.port, a.mode))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
