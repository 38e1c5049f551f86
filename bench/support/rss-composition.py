# What the compiled server's resident memory is made of (not one of `npm run bench`'s sections):
# waits for the newest `node ... dist/src/main.js` process, reads its /proc status every 25 ms
# until it exits, and prints, at its highest VmRSS, the resident size by kind of mapping
# (from smaps): the node binary's pages (binary), other files, malloc's main heap ([heap]),
# anonymous mappings of at most 256 KiB (v8-pages: V8's heap pages, both isolates), of exactly
# 8 MiB (slabs-8MiB: the registry's slabs of aligned buffers, src/registry/direct-io.ts; a
# thread's stack too, mostly not resident), and the other anonymous ones (anon-other). With a
# file argument, also the same split every 0.5 s into that file.
#   python3 bench/support/rss-composition.py [SERIES_FILE] &
#   flock /tmp/openloop-bench.lock env N=3 DELETE=1 SLEEP=12000 node --import tsx bench/support/rss-probe.ts
import os
import re
import sys
import time

MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def server_pid():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"dist/src/main.js" in f.read():
                        return int(entry)
            except OSError:
                pass
    return None


def kind(size_kib, name):
    if name.endswith("/node"):
        return "binary"
    if name.startswith("/"):
        return "files"
    if name:
        return name
    if size_kib <= 256:
        return "v8-pages"
    if size_kib == 8192:
        return "slabs-8MiB"
    return "anon-other"


def composition(pid):
    sizes, current = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = MAPPING.match(line)
            if m:
                current = kind((int(m.group(2), 16) - int(m.group(1), 16)) >> 10, m.group(3).strip())
            elif line.startswith("Rss:") and current:
                sizes[current] = sizes.get(current, 0) + int(line.split()[1])
    return sizes


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+)", f.read(), re.M).group(1))


def main():
    series = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
    pid = server_pid()
    while pid is None:
        time.sleep(0.1)
        pid = server_pid()
    best, at_best, last = 0, {}, 0.0
    try:
        while True:
            rss = status_kib(pid, "VmRSS")
            if series and time.time() - last >= 0.5:
                last = time.time()
                parts = " ".join(f"{k}={v / 1024:.1f}" for k, v in sorted(composition(pid).items(), key=lambda x: -x[1]) if v > 1024)
                series.write(f"{time.strftime('%T')} rss={rss / 1024:.1f} {parts}\n")
                series.flush()
            if rss > best:
                best, at_best = rss, composition(pid)
            time.sleep(0.025)
    except (OSError, AttributeError):
        pass  # the server exited
    print(f"peak VmRSS {best / 1024:.1f} MiB")
    for k, v in sorted(at_best.items(), key=lambda x: -x[1]):
        if v > 512:
            print(f"  {v / 1024:6.1f} MiB  {k}")


main()
