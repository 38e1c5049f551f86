# Buffered writes of an artifact's size with a write-back every 32 MiB, as the registry's buffered
# files do (src/registry/artifact-io.ts), with and without giving each written-back range to the
# page cache afterwards (posix_fadvise POSIX_FADV_DONTNEED, which Node has no binding for):
# does the kernel then reuse warm pages and spend less system time? Not one of `npm run bench`'s
# sections; three alternated pairs of 500 MiB, each file deleted after it.
#   flock /tmp/openloop-bench.lock python3 bench/support/fadvise-probe.py [DIR]
import os
import sys
import threading
import time

MiB = 1 << 20
TOTAL = 500 * MiB
WRITE_BACK = 32 * MiB
source = os.urandom(64 * MiB)
directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp"


def run(dontneed: bool) -> tuple[float, float]:
    """MiB/s and this process's system CPU seconds for one file."""
    path = os.path.join(directory, f"openloop-fadvise-{os.getpid()}.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write_back(end: int) -> None:
        os.fdatasync(fd)
        if dontneed:
            os.posix_fadvise(fd, 0, end, os.POSIX_FADV_DONTNEED)

    t0, cpu0 = time.perf_counter(), os.times()
    synced, pending = 0, None
    for at in range(0, TOTAL, MiB):
        os.pwrite(fd, source[at % len(source) : at % len(source) + MiB], at)
        # One write-back at a time, in the background, as the registry's writer does.
        if at + MiB - synced >= WRITE_BACK and (pending is None or not pending.is_alive()):
            synced = at + MiB
            pending = threading.Thread(target=write_back, args=(synced,))
            pending.start()
    if pending:
        pending.join()
    write_back(TOTAL)
    seconds, cpu1 = time.perf_counter() - t0, os.times()
    os.close(fd)
    os.unlink(path)
    return TOTAL / MiB / seconds, cpu1.system - cpu0.system


for _ in range(3):
    for dontneed in (False, True):
        rate, system = run(dontneed)
        print(f"{'DONTNEED after each write-back' if dontneed else 'kept in the page cache       '}: {rate:.0f} MiB/s, system {system:.2f} s", flush=True)
