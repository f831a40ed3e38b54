// A worker child dies with its supervisor, even when its event loop is blocked. A child notices a closed stdin and
// drains on its own, but only while its event loop runs: one stuck in a CPU-bound step (or stopped) would outlive a
// supervisor killed with SIGKILL outside systemd (ad-hoc runs, containers without an init) and burn a core for as
// long as it stays stuck.
//
// So each child runs a small watcher on a thread of its own (a worker thread has its own event loop, which a blocked
// main thread does not hold up). It looks at the parent pid twice a second; once the parent is gone it gives the
// child the drain time the supervisor would have given (SHUTDOWN_DRAIN_TIMEOUT_SECONDS, plus a margin) to finish on
// its own, then kills the process with SIGKILL. A healthy child drains and exits well before that, which ends the
// watcher with it.
//
// Why not the kernel's parent-death signal (prctl PR_SET_PDEATHSIG, reachable through bun:ffi and Deno.dlopen):
// SIGKILL on the parent's death would end healthy children mid-task too, their messages hidden until the leases run
// out, and a catchable signal does nothing to a blocked child. The watcher works alike under Bun, Deno and in the
// compiled binary (a worker from source text, so no second entry point), on any OS.
import { Worker } from "node:worker_threads";

/** How often the watcher looks at the parent pid. */
const POLL_MS = 500;

// Plain JavaScript for `new Worker(code, { eval: true })`: CommonJS in every runtime we run on.
const WATCHER = `
const { workerData } = require("node:worker_threads");
const timer = setInterval(() => {
  if (process.ppid === workerData.parent) return;
  clearInterval(timer);
  setTimeout(() => process.kill(process.pid, "SIGKILL"), workerData.graceMs);
}, workerData.pollMs);
`;

/** Whether the watcher runs, or why not (the child then relies on its stdin alone). */
export type ParentWatch = { watching: true } | { watching: false; reason: string };

/**
 * Kills this process with SIGKILL `graceMs` after its parent (`parentPid`, the supervisor as seen at start) is gone,
 * unless it has exited by then. The watcher thread does not keep the process alive.
 */
export function dieWithParent(parentPid: number, graceMs: number): ParentWatch {
  try {
    const watcher = new Worker(WATCHER, { eval: true, workerData: { parent: parentPid, graceMs, pollMs: POLL_MS } });
    watcher.unref();
    // An error of the watcher must not take the worker down with it; the stdin path still works.
    watcher.on("error", () => undefined);
    return { watching: true };
  } catch (err) {
    return { watching: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
