// Runs PDF extraction (pdf.ts) on worker threads, so that pdf.js never holds the worker's event loop: opening a large
// PDF is one synchronous stretch inside pdf.js (about 2 s for 10,000 pages) that no yield can break up, and a hostile
// page can take longer still. Each extraction has a thread to itself; an abort (the task's timeout or shutdown)
// terminates that thread, which stops the extraction wherever it is. One idle thread is kept for the next PDF, so
// pdf.js is loaded once per thread rather than once per document; it does not keep the process alive.
import { Worker } from "node:worker_threads";
import { DocumentError } from "./limits.ts";
import type { PdfJob, PdfOptions, PdfReply, PdfResult } from "./pdf.ts";

/** PDF extractions running at once in a process; more wait for a thread (pdf.js holds a document in memory). */
const MAX_THREADS = 4;
/** Threads kept idle for the next PDF. */
const MAX_IDLE = 1;

const idle: Worker[] = [];
let running = 0;
const waiting: Array<() => void> = [];

/**
 * Where the thread's module is. Run from source it sits next to this file. In the `bun build --compile` binary the
 * modules are bundled into the binary's main entry (import.meta.url names the binary), and pdf-worker.ts is a
 * second entry point (scripts/build.mjs), found by its path relative to src/, the folder of the main entry.
 */
function workerModule(): URL | string {
  return import.meta.url.includes("/$bunfs/")
    ? "./executors/documents/pdf-worker.ts"
    : new URL("./pdf-worker.ts", import.meta.url);
}

async function acquire(signal: AbortSignal): Promise<Worker> {
  while (running >= MAX_THREADS) {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = waiting.indexOf(wake);
        if (at >= 0) waiting.splice(at, 1);
        reject(signal.reason);
      };
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      waiting.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
  running++;
  const worker = idle.pop() ?? startWorker();
  worker.ref();
  return worker;
}

function startWorker(): Worker {
  const worker = new Worker(workerModule());
  // A thread that fails while idle leaves the pool (while busy, its job's listeners report it). Without an
  // 'error' listener an error event of an idle thread would be thrown in the main thread.
  worker.on("error", () => undefined);
  worker.once("exit", () => {
    const at = idle.indexOf(worker);
    if (at >= 0) idle.splice(at, 1);
  });
  return worker;
}

function release(worker: Worker, reusable: boolean): void {
  running--;
  if (reusable && idle.length < MAX_IDLE) {
    worker.unref();
    idle.push(worker);
  } else {
    void worker.terminate();
  }
  waiting.shift()?.();
}

/**
 * Extracts the PDF `bytes` on a thread of its own (the bytes are copied). `what` names the document in errors.
 * Rejects with a DocumentError for a bad file, with the signal's reason on abort.
 */
export async function extractPdfInThread(
  bytes: Uint8Array,
  what: string,
  signal: AbortSignal,
  opts: PdfOptions,
): Promise<PdfResult> {
  signal.throwIfAborted();
  const worker = await acquire(signal);
  let reusable = false;
  try {
    const reply = await new Promise<PdfReply>((resolve, reject) => {
      const done = () => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        signal.removeEventListener("abort", onAbort);
      };
      const onMessage = (reply: PdfReply) => {
        done();
        resolve(reply);
      };
      const onError = (err: Error) => {
        done();
        reject(new Error(`${what}: the PDF thread failed: ${err?.message ?? String(err)}`));
      };
      const onExit = (code: number) => {
        done();
        reject(new Error(`${what}: the PDF thread stopped (exit code ${code})`));
      };
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      signal.addEventListener("abort", onAbort, { once: true });
      const job: PdfJob = { bytes: bytes.slice(), what, opts };
      worker.postMessage(job, [job.bytes.buffer as ArrayBuffer]);
    });
    reusable = true;
    if (!reply.ok) throw reply.document ? new DocumentError(reply.message) : new Error(reply.message);
    return reply.result;
  } finally {
    release(worker, reusable);
  }
}
