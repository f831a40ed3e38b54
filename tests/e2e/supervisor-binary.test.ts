// The compiled binary against real emulators: ready, a SIGKILLed child replaced in < 2 s, SIGTERM → exit 0, no orphan.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { sleep } from "../helpers/wait.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    await sleep(100);
  }
  assert.fail(`timed out waiting for: ${what}`);
}

describe("compiled binary: supervisor", () => {
  let emulators: Emulators;
  let proc: ChildProcess | undefined;
  const lines: string[] = [];
  let port = 0;
  let exited: Promise<number | null>;

  before(async () => {
    const binary = ensureBinary();
    emulators = await startEmulators();
    proc = spawn(binary, [], {
      cwd: mkdtempSync(join(tmpdir(), "cfw-e2e-")),
      env: {
        PATH: process.env.PATH ?? "",
        ...emulators.env,
        NUM_PROCESSING_WORKERS: "2",
        NUM_SOURCE_WORKERS: "1",
        API_HOST: "127.0.0.1",
        API_PORT: "0",
        SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "10",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((r) => proc!.once("exit", (code) => r(code)));
    createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(l));
    createInterface({ input: proc.stderr! }).on("line", (l) => lines.push(`stderr: ${l}`));
    port = await until("api listening line", () => {
      for (const l of lines) {
        try {
          const r = JSON.parse(l);
          if (r.msg === "api listening") return r.port as number;
        } catch { /* not JSON */ }
      }
      return undefined;
    });
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
    await emulators?.stop();
  });

  const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

  test("becomes ready, replaces a killed child in < 2 s, drains on SIGTERM and leaves no process", async () => {
    await until("/ready 200", async () => ((await get("/ready")).status === 200 ? true : undefined), 60_000).catch(
      (e) => {
        throw new Error(`${e.message}\n${lines.slice(-30).join("\n")}`);
      },
    );
    const status = await (await get("/status")).json();
    const workers = [...status.workers.processing.workers, ...status.workers.source.workers];
    assert.equal(workers.length, 3);
    const pids: number[] = workers.map((w: { pid: number }) => w.pid);
    const victim = status.workers.processing.workers[0];
    const killedAt = Date.now();
    process.kill(victim.pid, "SIGKILL");
    const replacement = await until("replacement child", async () => {
      const s = await (await get("/status")).json();
      const w = s.workers.processing.workers[0];
      return w.alive && w.pid !== victim.pid ? w.pid as number : undefined;
    }, 10_000);
    assert.ok(Date.now() - killedAt < 2000, `replaced after ${Date.now() - killedAt} ms`);
    const metrics = await (await get("/metrics")).text();
    assert.match(metrics, /contentflow_worker_child_restarts_total\{role="processing"\} [1-9]/);
    const after = await (await get("/status")).json();
    assert.equal(after.workers.processing.workers[0].restarts, 1, "the killed worker was restarted once");

    // process.kill, not proc.kill: after ChildProcess.kill() Deno reports a null exit code for the child.
    process.kill(proc!.pid!, "SIGTERM");
    const code = await exited;
    assert.equal(code, 0);
    for (const pid of [...pids, replacement]) assert.equal(alive(pid), false, `child ${pid} left behind`);
  });
});
