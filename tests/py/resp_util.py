"""A byte-exact RESP reply reader for differential tests: returns each reply
as the raw bytes the server sent, so replies can be compared byte for byte."""
import socket


class RawConn:
    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.s.close()

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def _line(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()

    def _skip(self, pos):
        """Returns the end offset of the reply starting at pos."""
        self._need(pos + 1)
        t = self.buf[pos:pos + 1]
        eol = self._line(pos)
        head = self.buf[pos + 1:eol]
        end = eol + 2
        if t in b"+-:_,#(":
            return end
        if t in b"$=!":
            n = int(head)
            if n < 0:
                return end
            self._need(end + n + 2)
            return end + n + 2
        if t in b"*~>%|":
            n = int(head)
            if n < 0:
                return end
            if t in b"%|":
                n *= 2
            for _ in range(n):
                end = self._skip(end)
            return end
        raise ValueError("bad reply type %r in %r" % (t, self.buf[pos:pos + 40]))

    def reply(self):
        end = self._skip(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def call(self, frame):
        self.s.sendall(frame)
        return self.reply()


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
