// Waiting in tests: sleep, a time limit on a promise, polling until a condition holds, and names unique to the
// test process (queues, containers, vaults) so tests sharing an emulator never see each other's data.
import process from "node:process";
import { sleep } from "../../src/util/sleep.ts";

export { sleep };

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `fn` until it returns something other than undefined or false, and returns that. Errors thrown by `fn`
 * count as "not yet" (the last one is named if time runs out).
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    await sleep(150);
  }
  throw new Error(`timed out after ${ms} ms waiting for: ${what}${last ? ` (last error: ${last})` : ""}`);
}

let counter = 0;
/** A name unique to this process and call, lower case (valid for queues and containers). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`.toLowerCase();
}
