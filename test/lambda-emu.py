#!/usr/bin/env python3
"""A small AWS Lambda Runtime API (2018-06-01) for the tests of kincount --lambda.

    python3 test/lambda-emu.py [--status-next CODE] [--quit-after N] DIR

Listens on 127.0.0.1, on a port the kernel chooses, and when ready writes DIR/addr
("127.0.0.1:PORT", through a temporary file and a rename).  Python's standard library only.

Events: DIR/queue/NAME.json, served in name order; a test may add more at any time (write
the sidecars first and the .json last, or write the .json elsewhere and rename it in; names
starting with '.' are ignored).  Sidecars: NAME.id (the request id; default a fresh
uuid-like id) and NAME.deadline (ms from the moment the event is served; default 60000).

  GET  /2018-06-01/runtime/invocation/next
       Blocks until an event is queued, moves it (and its sidecars) to DIR/served/, writes
       DIR/served/NAME.rid (the request id used) and appends "NAME ID" to DIR/ids, and answers
       200 with the event and the headers Lambda-Runtime-Aws-Request-Id,
       Lambda-Runtime-Deadline-Ms (epoch ms), Lambda-Runtime-Invoked-Function-Arn and
       Lambda-Runtime-Trace-Id.  With DIR/stop present and the queue empty it answers 500
       (Lambda's "exit") instead of blocking.  A client that hangs up while it waits gets no
       event (the event stays queued).
  POST /2018-06-01/runtime/invocation/ID/response   (or .../ID/error)
       202; DIR/out/ID.headers (the request headers), DIR/out/ID.ms_before_deadline (the
       deadline minus the time the body had arrived, in whole ms; negative when late), then
       DIR/out/ID.response or DIR/out/ID.error (the body), each written atomically, the body
       last.  An ID that was not served, or was answered already, gets 400 and nothing is
       stored.
  POST /2018-06-01/runtime/init/error
       202; DIR/init-error.headers, then DIR/init-error (the body).

Bodies are read by Content-Length or chunked.  DIR/log gets one line per request,
"MONOTONIC_NS METHOD PATH STATUS", where MONOTONIC_NS is time.monotonic_ns() when the request
line arrived (so a blocked next is logged when it is answered, with the time it was asked).

Options: --status-next CODE answers every next with CODE (an error body) and serves nothing;
--quit-after N closes the listening socket and exits (status 0) once N events were served and
answered (the Nth answer is stored and acknowledged first), so the Runtime API goes away.
SIGTERM and SIGINT end it (status 0); DIR/addr is removed on the way out.
"""

import argparse
import http.server
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid

PREFIX = "/2018-06-01/runtime/"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:kincount"


def write_atomic(path, data):
    """Writes DATA (bytes) to PATH through a temporary file in the same folder and a rename."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-%d-%s" % (os.getpid(),
                                                             threading.get_ident()))
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_sidecar(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode().strip()
    except FileNotFoundError:
        return None


class Emulator:
    def __init__(self, root, status_next, quit_after):
        self.root = root
        self.queue = os.path.join(root, "queue")
        self.served = os.path.join(root, "served")
        self.out = os.path.join(root, "out")
        for d in (self.queue, self.served, self.out):
            os.makedirs(d, exist_ok=True)
        self.status_next = status_next
        self.quit_after = quit_after
        self.lock = threading.Lock()
        self.pending = {}       # request id -> deadline, epoch ms
        self.answered = set()
        self.nserved = 0
        self.nanswered = 0
        self.server = None
        self.logf = open(os.path.join(root, "log"), "a", buffering=1)

    def log(self, t0, method, path, status):
        with self.lock:
            self.logf.write("%d %s %s %d\n" % (t0, method, path, status))

    def take(self):
        """Claims the first queued event: (name, body, id, deadline_ms), or None."""
        try:
            names = sorted(n for n in os.listdir(self.queue)
                           if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            return None
        for n in names:
            base = n[:-len(".json")]
            src = os.path.join(self.queue, n)
            with self.lock:
                try:
                    with open(src, "rb") as f:
                        body = f.read()
                except FileNotFoundError:
                    continue
                rid = read_sidecar(os.path.join(self.queue, base + ".id")) or str(uuid.uuid4())
                dl = read_sidecar(os.path.join(self.queue, base + ".deadline"))
                dl = int(dl) if dl else 60000
                for ext in (".id", ".deadline"):
                    p = os.path.join(self.queue, base + ext)
                    if os.path.exists(p):
                        os.rename(p, os.path.join(self.served, base + ext))
                os.rename(src, os.path.join(self.served, n))
                deadline = int(time.time() * 1000) + dl
                self.pending[rid] = deadline
                self.nserved += 1
                write_atomic(os.path.join(self.served, base + ".rid"), (rid + "\n").encode())
                with open(os.path.join(self.root, "ids"), "a") as f:
                    f.write("%s %s\n" % (base, rid))
            return base, body, rid, deadline
        return None

    def stopping(self):
        return os.path.exists(os.path.join(self.root, "stop"))

    def answer(self, rid):
        """Marks RID answered; true when it was pending (else the caller answers 400)."""
        with self.lock:
            if rid not in self.pending:
                return None
            deadline = self.pending.pop(rid)
            self.answered.add(rid)
            return deadline

    def maybe_quit(self):
        with self.lock:
            self.nanswered += 1
            done = self.quit_after is not None and self.nanswered >= self.quit_after
        if done:
            quit_now(self)


def quit_now(emu):
    """Closes the listening socket, removes DIR/addr and ends the process at once (every
    open connection with it)."""
    try:
        os.unlink(os.path.join(emu.root, "addr"))
    except FileNotFoundError:
        pass
    try:
        emu.server.socket.close()
    except OSError:
        pass
    emu.logf.flush()
    os._exit(0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and the
    # client's delayed ACK would hold the body back (tens of ms per request).
    disable_nagle_algorithm = True

    def version_string(self):
        return "lambda-emu/1"

    def log_message(self, fmt, *args):   # quiet: DIR/log is the record
        pass

    def parse_request(self):
        self.t0 = time.monotonic_ns()
        return super().parse_request()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.server.emu.log(self.t0, self.command, self.path, status)

    def error_body(self, msg, kind):
        return json.dumps({"errorMessage": msg, "errorType": kind}).encode()

    def hung_up(self):
        """True when the client closed its end (readable with nothing to read)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_GET(self):
        emu = self.server.emu
        if self.path != PREFIX + "invocation/next":
            self.send(404, self.error_body("no such path", "NotFound"))
            return
        if emu.status_next is not None:
            self.send(emu.status_next, self.error_body("status forced by --status-next",
                                                       "Emulator.Forced"))
            return
        while True:
            ev = emu.take()
            if ev is not None:
                break
            if emu.stopping():
                self.send(500, self.error_body("the runtime is to exit", "Runtime.ExitError"))
                return
            if self.hung_up():
                emu.log(self.t0, self.command, self.path, 499)
                self.close_connection = True
                return
            time.sleep(0.005)
        name, body, rid, deadline = ev
        trace = "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), uuid.uuid4().hex[:24],
                                                         uuid.uuid4().hex[:16])
        self.send(200, body, (("Lambda-Runtime-Aws-Request-Id", rid),
                              ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                              ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                              ("Lambda-Runtime-Trace-Id", trace)))

    def do_POST(self):
        emu = self.server.emu
        body = self.read_body()
        now = int(time.time() * 1000)
        hdrs = "".join("%s: %s\n" % (k, v) for k, v in self.headers.items()).encode()
        path = self.path
        if path == PREFIX + "init/error":
            write_atomic(os.path.join(emu.root, "init-error.headers"), hdrs)
            write_atomic(os.path.join(emu.root, "init-error"), body)
            self.send(202, b'{"status":"OK"}')
            return
        parts = path[len(PREFIX):].split("/") if path.startswith(PREFIX) else []
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            self.send(404, self.error_body("no such path", "NotFound"))
            return
        rid, kind = parts[1], parts[2]
        deadline = emu.answer(rid)
        if deadline is None:
            self.send(400, self.error_body("unknown or answered request id " + rid,
                                           "InvalidRequestID"))
            return
        write_atomic(os.path.join(emu.out, rid + ".headers"), hdrs)
        write_atomic(os.path.join(emu.out, rid + ".ms_before_deadline"),
                     b"%d\n" % (deadline - now))
        write_atomic(os.path.join(emu.out, rid + "." + kind), body)
        self.send(202, b'{"status":"OK"}')
        emu.maybe_quit()

    def do_PUT(self):
        self.send(405, self.error_body("method not allowed", "MethodNotAllowed"))

    do_DELETE = do_PUT


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def main():
    ap = argparse.ArgumentParser(description="Lambda Runtime API emulator for the tests.")
    ap.add_argument("--status-next", type=int, metavar="CODE")
    ap.add_argument("--quit-after", type=int, metavar="N")
    ap.add_argument("dir")
    a = ap.parse_args()
    if a.quit_after is not None and a.quit_after < 1:
        ap.error("--quit-after needs N >= 1")

    emu = Emulator(a.dir, a.status_next, a.quit_after)
    server = Server(("127.0.0.1", 0), Handler)
    server.emu = emu
    emu.server = server

    def stop(signum, frame):
        quit_now(emu)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    write_atomic(os.path.join(a.dir, "addr"), ("%s:%d\n" % (host, port)).encode())
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    sys.exit(main())
