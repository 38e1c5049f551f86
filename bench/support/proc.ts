// Server CPU time from /proc, for "CPU per call": robust to other load on the machine.
import { readFileSync } from "node:fs";

const TICK_US = 1e6 / 100; // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ)

/** CPU time (user + system) the process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_US; // utime + stime
}

/** Waits until the process stays nearly idle for a second (modules may warm up in the background). */
export async function settle(pid: number): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const before = cpuMicros(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuMicros(pid) - before <= 5 * TICK_US) return;
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
