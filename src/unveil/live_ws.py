"""``unveil live --ws``: each frame's JSON line also served on a local WebSocket (127.0.0.1 only).

The server runs on its own thread (an asyncio loop of the ``websockets`` library, the optional
extra ``pip install 'unveil[live]'``). The pipeline hands it each line with :meth:`WsBroadcaster.publish`,
which never waits: the line is put on every connected client's queue of :data:`QUEUE` lines; when a
client's queue is full (a slow client, or one whose TCP buffer is full), its oldest queued line is
dropped and counted (the client gets the newest frames, never a growing backlog). A client that
disconnects is forgotten; the pipeline does not notice. Clients are not read from (any message they
send is ignored). No compression (a few KB of JSON per frame: CPU matters more than bytes on
127.0.0.1).
"""

from __future__ import annotations

import asyncio
import threading

from .errors import UnveilError

HOST = "127.0.0.1"   # local only: the poses of whoever is on camera are not served to the network
DEFAULT_PORT = 8765
QUEUE = 4            # lines queued per client before its oldest is dropped
EXTRA_MSG = "unveil live --ws needs the websockets package: pip install 'unveil[live]'"


def require_websockets():
    """The ``websockets`` module, or :class:`UnveilError` naming the extra to install."""
    try:
        import websockets  # optional extra `unveil[live]`: imported only when --ws is asked for
        from websockets.asyncio.server import serve  # noqa: F401  (websockets >= 13)
    except ImportError:
        raise UnveilError(EXTRA_MSG) from None
    return websockets


class _Client:
    def __init__(self, ws, peer):
        self.ws = ws
        self.peer = peer
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE)
        self.sent = 0
        self.dropped = 0


class WsBroadcaster:
    """A WebSocket server on ``127.0.0.1:port`` that sends every published text to every client.

    Args:
        port: TCP port (0: the system picks a free one; :attr:`port` then says which).
        host: the address to bind (default and intended: 127.0.0.1).
    Raises:
        UnveilError: websockets missing, or the port cannot be bound (in :meth:`start`).
    """

    def __init__(self, port: int = DEFAULT_PORT, host: str = HOST):
        require_websockets()
        if not 0 <= int(port) <= 65535:
            raise UnveilError(f"--ws port must be in 0..65535 (got {port})")
        self.host, self.port = host, int(port)
        self.published = 0          # lines handed to publish()
        self.clients_served = 0     # clients that connected, in all
        self.stats: list[dict] = []  # per finished client: peer, sent, dropped
        self._clients: dict[int, _Client] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._thread_main, daemon=True, name="unveil-ws")
        self._ready = threading.Event()
        self._connected = threading.Event()
        self._error: str | None = None
        self._server = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # ------------------------------------------------------------------ the pipeline's side
    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve (returns once listening)."""
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise UnveilError(f"cannot serve the live WebSocket on {self.host}:{self.port} "
                              f"({self._error or 'timed out'})")

    def wait_client(self, timeout: float | None = None) -> bool:
        """Block until a first client has connected (True) or ``timeout`` s passed (False)."""
        return self._connected.wait(timeout)

    def publish(self, text: str) -> None:
        """Queue ``text`` for every connected client; never blocks (full queues drop their oldest)."""
        self.published += 1
        if self._clients:  # nobody connected: not even a wake-up of the loop
            self._loop.call_soon_threadsafe(self._fanout, text)

    def close(self, linger: float = 2.0) -> dict:
        """Send what is queued (up to ``linger`` s), close every connection (code 1000) and stop.

        Returns:
            ``{"url", "published", "clients", "sent", "dropped", "per_client": [{peer, sent, dropped}]}``.
        """
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._begin_stop, linger)
            self._thread.join(linger + 5.0)
        return {"url": self.url, "published": self.published, "clients": self.clients_served,
                "sent": sum(s["sent"] for s in self.stats), "dropped": sum(s["dropped"] for s in self.stats),
                "per_client": list(self.stats)}

    # ------------------------------------------------------------------ the server's thread
    def _thread_main(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception as e:  # a bind error before _ready; anything later ends the server only
            self._error = f"{type(e).__name__}: {e}"
        finally:
            self._ready.set()
            self._loop.close()

    async def _serve(self):
        from websockets.asyncio.server import serve  # optional extra (see require_websockets)

        self._stop = asyncio.Event()
        async with serve(self._handler, self.host, self.port, compression=None, max_size=2 ** 16,
                         ping_interval=20, close_timeout=1.0) as server:
            self._server = server
            self.port = int(server.sockets[0].getsockname()[1])
            self._ready.set()
            await self._stop.wait()
            # let the handlers send what is queued (then the sentinel) for up to `linger` s
            if self._clients:
                try:
                    await asyncio.wait_for(self._drained(), self._linger)
                except asyncio.TimeoutError:  # a client still blocked on a full socket: cut it off
                    for c in list(self._clients.values()):
                        c.ws.transport.abort()
                    try:
                        await asyncio.wait_for(self._drained(), 1.0)
                    except asyncio.TimeoutError:
                        pass
            server.close(close_connections=True)
            try:
                await asyncio.wait_for(server.wait_closed(), 3.0)
            except asyncio.TimeoutError:
                pass

    async def _drained(self):
        while self._clients:
            await asyncio.sleep(0.02)

    def _begin_stop(self, linger: float):
        self._linger = float(linger)
        for c in self._clients.values():
            self._put(c, None)  # the sentinel: the handler closes the connection after its queue
        self._stop.set()

    def _put(self, c: _Client, item) -> None:
        if c.queue.full():
            old = c.queue.get_nowait()
            if old is not None:
                c.dropped += 1
        c.queue.put_nowait(item)

    def _fanout(self, text: str) -> None:
        for c in self._clients.values():
            self._put(c, text)

    async def _handler(self, ws):
        from websockets.exceptions import ConnectionClosed  # optional extra (see require_websockets)

        c = _Client(ws, f"{ws.remote_address[0]}:{ws.remote_address[1]}" if ws.remote_address else "?")
        key = id(ws)
        self._clients[key] = c
        self.clients_served += 1
        self._connected.set()
        try:
            while True:
                item = await c.queue.get()
                if item is None:
                    await ws.close(1000, "end of the live source")
                    break
                await ws.send(item)
                c.sent += 1
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(key, None)
            c.dropped += sum(1 for x in _drain(c.queue) if x is not None)  # queued, never sent
            self.stats.append({"peer": c.peer, "sent": c.sent, "dropped": c.dropped})


def _drain(q: asyncio.Queue):
    while not q.empty():
        yield q.get_nowait()


__all__ = ["WsBroadcaster", "require_websockets", "HOST", "DEFAULT_PORT", "QUEUE", "EXTRA_MSG"]
