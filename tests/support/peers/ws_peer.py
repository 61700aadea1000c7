#!/usr/bin/env python3
"""A third-party WebSocket peer for wstether's tests, on python-websockets.

It listens on 127.0.0.1 (an ephemeral port unless told otherwise), echoes
what it receives and reports everything it sees as JSON lines on stdout,
the first of which names its port:

    {"event": "listening", "port": 40123}
    {"event": "open", "conn": 0, "path": "/", "headers": [[name, value], ...], "subprotocol": null}
    {"event": "message", "conn": 0, "text": "hi"}          (binary: "binary": <length>)
    {"event": "pong", "conn": 0}
    {"event": "closed", "conn": 0, "code": 1000, "reason": ""}   (code null: no code)
    {"event": "ended", "conn": 0}

A text message starting with "!" is a command rather than echoed:

    !close CODE [REASON]   close with CODE
    !ping [PAYLOAD]        send a ping (its pong is reported)
    !send N PREFIX         send N text messages PREFIX0 .. PREFIX{N-1}
    !binary N              send one binary message of N bytes

It exits when its stdin closes, so it never outlives the test that started it.
"""

import argparse
import asyncio
import http
import itertools
import json
import os
import sys
import threading

try:
    import websockets
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed
except ImportError as error:  # reported to the launcher, which skips
    print(json.dumps({"event": "error", "error": f"python-websockets >= 15 is needed: {error}"}), flush=True)
    sys.exit(3)


def emit(**event):
    print(json.dumps(event), flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--subprotocol", action="append", default=[],
                        help="a subprotocol to choose when the client offers it (repeatable)")
    parser.add_argument("--ping-interval", type=float, default=None,
                        help="seconds between the library's own keepalive pings (default: none)")
    parser.add_argument("--close-on-open", type=int, default=None,
                        help="close every connection with this code as soon as it opens")
    parser.add_argument("--require-header", default=None,
                        help="NAME:VALUE a request must carry; otherwise 401")
    return parser.parse_args()


ARGS = parse_args()
CONNS = itertools.count()


def select_subprotocol(connection, offered):
    # Lenient, unlike the library's default: no common subprotocol means
    # none, not a 400.
    return next((p for p in ARGS.subprotocol if p in offered), None)


def process_request(connection, request):
    if ARGS.require_header is None:
        return None
    name, _, value = ARGS.require_header.partition(":")
    if request.headers.get(name.strip()) != value.strip():
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong credentials\n")
    return None


async def ping(ws, conn, payload):
    try:
        waiter = await ws.ping(payload)
        await waiter
        emit(event="pong", conn=conn)
    except ConnectionClosed:
        pass


async def command(ws, conn, text):
    name, _, rest = text[1:].partition(" ")
    if name == "close":
        code, _, reason = rest.partition(" ")
        await ws.close(int(code), reason)
    elif name == "ping":
        asyncio.ensure_future(ping(ws, conn, rest.encode() or None))
    elif name == "send":
        count, _, prefix = rest.partition(" ")
        for i in range(int(count)):
            await ws.send(f"{prefix}{i}")
    elif name == "binary":
        await ws.send(bytes(int(rest)))


async def handler(ws):
    conn = next(CONNS)
    emit(event="open", conn=conn, path=ws.request.path,
         headers=[[k, v] for k, v in ws.request.headers.raw_items()],
         subprotocol=ws.subprotocol)
    try:
        if ARGS.close_on_open is not None:
            await ws.close(ARGS.close_on_open, "closing on open")
        async for message in ws:
            if isinstance(message, str):
                emit(event="message", conn=conn, text=message)
                if message.startswith("!"):
                    await command(ws, conn, message)
                else:
                    await ws.send(message)
            else:
                emit(event="message", conn=conn, binary=len(message))
                await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        received = ws.protocol.close_rcvd
        if received is not None:
            # 1005 is how the library spells "no code in the frame".
            code = None if received.code == 1005 else received.code
            emit(event="closed", conn=conn, code=code, reason=received.reason)
        emit(event="ended", conn=conn)


def exit_with_parent():
    sys.stdin.read()
    os._exit(0)


async def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    async with serve(handler, "127.0.0.1", ARGS.port,
                     subprotocols=ARGS.subprotocol or None,
                     select_subprotocol=select_subprotocol,
                     process_request=process_request,
                     ping_interval=ARGS.ping_interval) as server:
        port = server.sockets[0].getsockname()[1]
        emit(event="listening", port=port, version=websockets.__version__)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
