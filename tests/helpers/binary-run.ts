// A supervisor started from the compiled binary with its API on a free port: its log lines, readiness, children,
// counters and exit. Used by the end-to-end tests and the benchmark scripts.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { ChildSnapshot } from "../../src/supervisor/supervisor.ts";
import { sleep } from "../../src/util/sleep.ts";

/** A supervisor started from the compiled binary, with its API on a free port. */
export class BinaryRun {
  readonly lines: string[] = [];
  readonly spawnedAt = performance.now();
  port = 0;
  private readonly exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    this.exited = new Promise((r) => proc.once("exit", (code) => r(code)));
    const keep = (l: string) => {
      this.lines.push(l);
      if (this.lines.length > 500) this.lines.splice(0, 100);
      if (!this.port && l.includes('"api listening"')) {
        try {
          this.port = JSON.parse(l).port;
        } catch { /* not JSON */ }
      }
    };
    createInterface({ input: proc.stdout! }).on("line", keep);
    createInterface({ input: proc.stderr! }).on("line", keep);
  }

  /** `detached`: in a process group of its own (its pid is the group id), as a shell runs a foreground command. */
  static async start(
    binary: string,
    env: Record<string, string>,
    opts: { detached?: boolean } = {},
  ): Promise<BinaryRun> {
    const proc = spawn(binary, [], {
      cwd: mkdtempSync(join(tmpdir(), "cfw-binary-")),
      env: { PATH: process.env.PATH ?? "", API_HOST: "127.0.0.1", API_PORT: "0", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? false,
    });
    const run = new BinaryRun(proc);
    const deadline = Date.now() + 30_000;
    while (!run.port) {
      if (proc.exitCode !== null) {
        throw new Error(`binary exited with ${proc.exitCode}:\n${run.lines.slice(-20).join("\n")}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`binary did not report its API port:\n${run.lines.slice(-20).join("\n")}`);
      }
      await sleep(20);
    }
    return run;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async get(path: string): Promise<Response> {
    return await fetch(`http://127.0.0.1:${this.port}${path}`);
  }

  /** Milliseconds from spawn until /ready answers 200. */
  async waitReady(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.get("/ready").catch(() => undefined);
      await r?.body?.cancel();
      if (r?.status === 200) return performance.now() - this.spawnedAt;
      await sleep(20);
    }
    throw new Error(`not ready after ${timeoutMs} ms:\n${this.lines.slice(-20).join("\n")}`);
  }

  async children(): Promise<ChildSnapshot[]> {
    const status = await (await this.get("/status")).json();
    return Object.values(status.workers as Record<string, { workers: ChildSnapshot[] }>).flatMap((r) => r.workers);
  }

  /** Counters summed over the processing role, as the supervisor aggregates them (heartbeat every 2 s). */
  async processingCounters(): Promise<Record<string, number>> {
    const status = await (await this.get("/status")).json();
    return status.counters?.processing ?? {};
  }

  /** Sends `signal` and returns the milliseconds until the process exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 120_000): Promise<number> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return 0;
    const t0 = performance.now();
    process.kill(this.pid, signal);
    const timer = setTimeout(() => process.kill(this.pid, "SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return performance.now() - t0;
  }
}
