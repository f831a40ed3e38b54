// Workers die with their supervisor even when their event loop is blocked: a watcher thread in each child of the
// compiled binary kills it once the supervisor is gone and the drain time has passed (src/runtime/parent-death.ts).
// Without it a blocked child never reads its closed stdin and outlives a supervisor killed with SIGKILL outside
// systemd. (That healthy workers still drain by themselves first is faults.test.ts (i).)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readFileSync } from "node:fs";
import { namedQueue } from "../helpers/seeded-store.ts";
import { alive, type E2eFleetEnv, e2eFleetEnv, uniqueName, until } from "../helpers/e2e-kit.ts";

declare const Bun: unknown;
declare const Deno: {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): {
    symbols: Record<string, (...args: unknown[]) => bigint>;
  };
};

const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;

/**
 * Freezes the main thread of `pid` alone, as a CPU-bound step would hold it: ptrace-stopped, its event loop does not
 * run, while the process's other threads go on (SIGSTOP would stop them all, which no code inside can outlast). The
 * test process is the tracer (a child's child is its descendant, which Yama's ptrace_scope=1 allows).
 */
async function freezeMainThread(pid: number): Promise<void> {
  let ptrace: (request: number, pid: number) => number;
  if (typeof Bun !== "undefined") {
    const specifier = "bun:ffi";
    const ffi = await import(specifier);
    const { FFIType } = ffi;
    const lib = ffi.dlopen("libc.so.6", {
      ptrace: { args: [FFIType.i64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64 },
    });
    ptrace = (request, target) => Number(lib.symbols.ptrace(request, target, null, null));
  } else {
    const lib = Deno.dlopen("libc.so.6", {
      ptrace: { parameters: ["i64", "i32", "pointer", "pointer"], result: "i64" },
    });
    ptrace = (request, target) => Number(lib.symbols.ptrace(BigInt(request), target, null, null));
  }
  assert.equal(ptrace(PTRACE_SEIZE, pid), 0, `ptrace(PTRACE_SEIZE, ${pid})`);
  assert.equal(ptrace(PTRACE_INTERRUPT, pid), 0, `ptrace(PTRACE_INTERRUPT, ${pid})`);
}

function state(pid: number): string {
  try {
    return /^State:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "?";
  } catch {
    return "gone";
  }
}

/** Gone: no such process, or a zombie waiting to be reaped (it runs nothing any more). */
function gone(pid: number): boolean {
  return !alive(pid) || /^(Z|X|gone)/.test(state(pid));
}

describe("a blocked worker dies with its supervisor", () => {
  let env: E2eFleetEnv;
  const leftovers: number[] = [];

  before(async () => {
    env = await e2eFleetEnv();
  });

  after(async () => {
    for (const pid of leftovers) if (alive(pid)) process.kill(pid, "SIGKILL");
    await env?.stop();
  });

  test("supervisor SIGKILLed while its workers are blocked: they are gone once the drain time has passed", {
    timeout: 60_000,
  }, async () => {
    const queue = namedQueue(env.emu, uniqueName("pdeath-q"));
    await queue.create();
    const run = await env.fleet.start(queue.name, {
      NUM_PROCESSING_WORKERS: "2",
      // The supervisor must not kill the blocked children itself before the test kills it.
      WORKER_HEARTBEAT_TIMEOUT_SECONDS: "600",
      // An orphan that cannot drain is killed 2 s (and a margin of 2 s) after its supervisor.
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "2",
    });
    await run.waitReady();
    const kids = (await run.children()).map((c) => c.pid!).filter(Boolean);
    assert.equal(kids.length, 2);
    leftovers.push(...kids);
    for (const pid of kids) await freezeMainThread(pid);
    await until("the workers' main threads frozen", () => kids.every((pid) => state(pid).startsWith("t")) || undefined);
    await run.stop("SIGKILL");
    await until("the blocked workers are gone", () => kids.every(gone) || undefined, 10_000).catch(() => undefined);
    assert.deepEqual(kids.filter((pid) => !gone(pid)), [], "no worker outlived its supervisor");
  });
});
