// Server CPU time from /proc, for "CPU per call": robust to other load on the machine.
import { readFileSync, writeFileSync } from "node:fs";

const TICK_US = 1e6 / 100; // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ)

/** CPU time (user + system) the process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const { user, system } = cpuSplitMicros(pid);
  return user + system;
}

/** User and system CPU time the process has used so far, in microseconds. */
export function cpuSplitMicros(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { user: Number(fields[11]) * TICK_US, system: Number(fields[12]) * TICK_US }; // utime, stime
}

/** A size field of /proc/<pid>/status (VmRSS, VmHWM), in bytes. */
export function statusBytes(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Resets the peak resident size (VmHWM) of a process to its current size (Linux >= 4.0). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
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
