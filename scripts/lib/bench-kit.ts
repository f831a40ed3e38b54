// Pieces of the benchmark scripts only: flags, progress lines, process figures from /proc and statistics (the bare
// SDK loop that sets the throughput ceiling is in bare-loop.ts). What the tests share with the benchmarks (the
// compiled binary as a supervisor, the seeded Cosmos database, task preloading) lives in tests/helpers/.
import { readFileSync } from "node:fs";
import process from "node:process";
import type { QueueClient } from "@azure/storage-queue";
import { eachLimited } from "../../src/util/each-limited.ts";
import { passThroughTask } from "../../tests/helpers/seeded-store.ts";

/** The value of a flag `--name V` / `--name=V` (the first one given), or undefined. */
export function textFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** A whole-number flag `--name N` / `--name=N`; exits 2 with a message when it is not one. */
export function intFlag(args: string[], name: string, fallback: number): number {
  const raw = textFlag(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} needs a whole number, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

/** Every `--env KEY=VALUE` flag (repeatable) as settings; exits 2 with a message on one without "=". */
export function envFlags(args: string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== "--env") return;
    const [key, ...value] = (args[i + 1] ?? "").split("=");
    if (!key || value.length === 0) {
      console.error(`--env needs KEY=VALUE, got "${args[i + 1] ?? ""}"`);
      process.exit(2);
    }
    settings[key] = value.join("=");
  });
  return settings;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Prints a progress line on stderr (numbers go to stdout). */
export function progress(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

/** Fills a queue with `n` plain messages of the task size, for the SDK loop. */
export async function preloadPlain(queue: QueueClient, n: number, vaultId: string): Promise<void> {
  const texts = Array.from({ length: n }, (_, i) => JSON.stringify(passThroughTask(vaultId, i)));
  await eachLimited(texts, 16, (t) => queue.sendMessage(t));
}

/** A memory figure of a process from /proc (Linux), in KiB: VmRSS now, or VmHWM, the most it has held. */
export function procStatusKiB(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) : undefined;
  } catch {
    return undefined;
  }
}

export function rssMiB(pid: number): number | undefined {
  const kb = procStatusKiB(pid, "VmRSS");
  return kb ? Math.round(kb / 1024 * 10) / 10 : undefined;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}
