#!/usr/bin/env python3
"""Writes otlp-trace.binpb: a FileDescriptorSet of the official OTLP trace protos.

The descriptors come from the Go module go.opentelemetry.io/proto/otlp (protoc-gen-go embeds
each .proto's FileDescriptorProto as a string literal), fetched through the Go module proxy:

    go mod download -json go.opentelemetry.io/proto/otlp@v1.11.1   # prints its Dir
    python3 extract-descriptors.py <Dir>
"""
import ast, os, re, sys

FILES = [  # dependencies first
    "common/v1/common.pb.go",
    "resource/v1/resource.pb.go",
    "trace/v1/trace.pb.go",
    "collector/trace/v1/trace_service.pb.go",
]

def raw_desc(go_source: str) -> bytes:
    m = re.search(r'_rawDesc = "" \+\n((?:\s*".*"(?: \+)?\n)+)', go_source)
    if not m:
        raise SystemExit("no rawDesc string literal found")
    out = b""
    for line in m.group(1).splitlines():
        lit = line.strip().removesuffix("+").strip()
        out += ast.literal_eval("b" + lit)  # Go's escapes in these literals (\xNN, \n, \v, \", octal) are Python's
    return out

def varint(n: int) -> bytes:
    b = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            b += bytes([byte | 0x80])
        else:
            return b + bytes([byte])

root = sys.argv[1]
fds = b""
for f in FILES:
    desc = raw_desc(open(os.path.join(root, f)).read())
    fds += b"\x0a" + varint(len(desc)) + desc  # FileDescriptorSet.file = 1
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "otlp-trace.binpb")
open(out, "wb").write(fds)
print(f"wrote {out} ({len(fds)} bytes)")
