// Workers die with their supervisor even when their event loop is blocked: the compiled binary's children ask the
// kernel for SIGKILL when their parent dies (src/runtime/parent-death.ts). Without it a blocked child never reads its
// closed stdin and outlives a supervisor killed with SIGKILL outside systemd.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readFileSync } from "node:fs";
import { namedQueue } from "../helpers/seeded-store.ts";
import { alive, type E2eFleetEnv, e2eFleetEnv, uniqueName, until } from "./e2e-kit.ts";

/** Gone: no such process, or a zombie waiting to be reaped (it runs nothing any more). */
function gone(pid: number): boolean {
  if (!alive(pid)) return true;
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
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

  test("supervisor SIGKILLed while its workers are blocked: they are gone within seconds", {
    timeout: 60_000,
  }, async () => {
    const queue = namedQueue(env.emu, uniqueName("pdeath-q"));
    await queue.create();
    const run = await env.fleet.start(queue.name, {
      NUM_PROCESSING_WORKERS: "2",
      // The supervisor must not kill the blocked children itself before the test kills it.
      WORKER_HEARTBEAT_TIMEOUT_SECONDS: "600",
    });
    await run.waitReady();
    const kids = (await run.children()).map((c) => c.pid!).filter(Boolean);
    assert.equal(kids.length, 2);
    leftovers.push(...kids);
    // SIGSTOP: a child that runs no JavaScript at all, as one stuck in a CPU-bound step (it cannot read its stdin).
    for (const pid of kids) process.kill(pid, "SIGSTOP");
    await run.stop("SIGKILL");
    await until("the blocked workers are gone", () => kids.every(gone) || undefined, 10_000).catch(() => undefined);
    assert.deepEqual(kids.filter((pid) => !gone(pid)), [], "no worker outlived its supervisor");
  });
});
