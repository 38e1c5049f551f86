// Small helpers shared by tests: expected failures, and numbered gates that let a fake
// upstream hold delta i back until the client has seen i deltas.

/** Runs `fn`, expecting it to fail; returns the error. */
export async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail, and it succeeded");
}

/** Gates numbered from 1, each opened once; waiting on one before it exists is fine. */
export function numberedGates(): { wait(i: number): Promise<void>; open(i: number): void } {
  const gates = new Map<number, { promise: Promise<void>; open: () => void }>();
  const gate = (i: number) => {
    let g = gates.get(i);
    if (!g) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      g = { promise, open };
      gates.set(i, g);
    }
    return g;
  };
  return { wait: (i) => gate(i).promise, open: (i) => gate(i).open() };
}
