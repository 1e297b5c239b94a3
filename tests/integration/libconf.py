"""A small, independent reader and writer of libconfig text (the syntax of
diyctl.conf), for tests that must not trust diyctl's own parser: the schema
test turns examples/*.conf into JSON with it, and writes generated configs.

loads(text, include_dir=None) -> dict   (groups are dicts, arrays and lists
                                         are lists; @include is followed)
dumps(dict) -> text
"""

import os
import re

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<include>@include[ \t]+"(?:[^"\\]|\\.)*")
  | (?P<float>[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)
  | (?P<hex>0[xX][0-9A-Fa-f]+(?:LL|L)?)
  | (?P<int>[-+]?[0-9]+(?:LL|L)?)
  | (?P<bool>(?i:true|false)\b)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}\[\]()])
""", re.S | re.X)

_ESC = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "\\": "\\", '"': '"'}


class ParseError(ValueError):
    pass


def _unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x" and i + 3 < len(s):
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(_ESC.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _tokens(text, include_dir, depth=0):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError("cannot read %r" % text[pos:pos + 20])
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        if kind == "include":
            if depth > 10:
                raise ParseError("@include nested too deeply")
            name = _unescape(m.group()[m.group().index('"') + 1:-1])
            with open(os.path.join(include_dir or ".", name)) as f:
                yield from _tokens(f.read(), include_dir, depth + 1)
            continue
        yield kind, m.group()


class _Parser:
    def __init__(self, toks):
        self.toks = list(toks)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, want=None):
        k, v = self.peek()
        if k is None or (want is not None and v != want):
            raise ParseError("expected %r, got %r" % (want, v))
        self.i += 1
        return k, v

    def settings(self, end):
        res = {}
        while True:
            k, v = self.peek()
            if v == end or (end is None and k is None):
                return res
            if k != "name":
                raise ParseError("expected a setting name, got %r" % v)
            self.take()
            if v in res:
                raise ParseError("duplicate setting %s" % v)
            self.take()  # = or :
            res[v] = self.value()
            if self.peek()[1] in (";", ","):
                self.take()

    def value(self):
        k, v = self.take()
        if v == "{":
            g = self.settings("}")
            self.take("}")
            return g
        if v in ("[", "("):
            close = "]" if v == "[" else ")"
            items = []
            while self.peek()[1] != close:
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
            self.take(close)
            return items
        if k == "string":
            s = _unescape(v[1:-1])
            while self.peek()[0] == "string":  # adjacent strings concatenate
                s += _unescape(self.take()[1][1:-1])
            return s
        if k == "bool":
            return v.lower() == "true"
        if k == "float":
            return float(v)
        if k in ("int", "hex"):
            return int(v.rstrip("L"), 0)
        raise ParseError("unexpected %r" % v)


def loads(text, include_dir=None):
    p = _Parser(_tokens(text, include_dir))
    return p.settings(None)


def load(path):
    with open(path) as f:
        return loads(f.read(), os.path.dirname(os.path.abspath(path)))


def _str(s):
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7f:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) + ("L" if not -2**31 <= v < 2**31 else "")
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r or "n" in r) else r + ".0"
    if isinstance(v, str):
        return _str(v)
    raise TypeError(v)


def _value(v, indent):
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            return "{ }"
        body = "".join("%s  %s = %s;\n" % (pad, k, _value(x, indent + 1)) for k, x in v.items())
        return "{\n%s%s}" % (body, pad)
    if isinstance(v, list):
        scalars = all(not isinstance(x, (dict, list)) for x in v)
        same = len({type(x) for x in v}) <= 1
        if scalars and same:
            return "[ %s ]" % ", ".join(_scalar(x) for x in v) if v else "[ ]"
        return "( %s )" % ", ".join(_value(x, indent + 1) for x in v)
    return _scalar(v)


def dumps(d):
    return "".join("%s = %s;\n" % (k, _value(v, 0)) for k, v in d.items())
