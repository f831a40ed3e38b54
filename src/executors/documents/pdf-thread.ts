// Runs PDF extraction (pdf.ts) on worker threads, so that pdf.js never holds the worker's event loop: opening a large
// PDF is one synchronous stretch inside pdf.js (about 2 s for 10,000 pages) that no yield can break up, and a hostile
// page can take longer still. Each extraction has a thread to itself; an abort (the task's timeout or shutdown)
// terminates that thread, which stops the extraction wherever it is. One idle thread is kept for the next PDF, so
// pdf.js is loaded once per thread rather than once per document; it does not keep the process alive.
//
// Memory: a small hostile PDF can make pdf.js allocate without bound (a 300 KB content stream that inflates to
// 300 MB, say). Node stops a thread at its `resourceLimits`, but Bun ignores that option and Deno 2.9 parks the
// thread at the limit without an error or exit event, so a limit of the runtime alone would either not hold or leave
// the item waiting for its task's timeout. What works on both: while an extraction runs, the process's resident
// memory is sampled, and once it has grown by more than PDF_THREAD_MAX_MEMORY_MB since the extraction began, its
// thread is terminated and the item fails with a message that says so (other extractions running at the same time
// count towards that growth too; the check errs on the side of stopping). `resourceLimits` at twice the limit is
// set as well, a backstop where a runtime honours it (Deno: heap only).
import process from "node:process";
import { Worker } from "node:worker_threads";
import { raceAbort } from "../../util/abort.ts";
import { DocumentError } from "./limits.ts";
import type { PdfJob, PdfOptions, PdfReply, PdfResult } from "./pdf.ts";

/** PDF extractions running at once in a process; more wait for a thread (pdf.js holds a document in memory). */
const MAX_THREADS = 4;
/** Threads kept idle for the next PDF. */
const MAX_IDLE = 1;
/** How often the process's memory is sampled while an extraction runs. */
const MEMORY_SAMPLE_MS = 100;

/** A thread of the pool and the memory limit it was started with. */
interface PdfThread {
  worker: Worker;
  maxMemoryMb: number;
  /** Resolves once the thread has loaded pdf.js (its first message). */
  ready: Promise<void>;
}

const idle: PdfThread[] = [];
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

async function acquire(signal: AbortSignal, maxMemoryMb: number): Promise<PdfThread> {
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
  const at = idle.findIndex((t) => t.maxMemoryMb === maxMemoryMb);
  const thread = at >= 0 ? idle.splice(at, 1)[0] : startThread(maxMemoryMb);
  thread.worker.ref();
  return thread;
}

function startThread(maxMemoryMb: number): PdfThread {
  const worker = new Worker(workerModule(), { resourceLimits: { maxOldGenerationSizeMb: 2 * maxMemoryMb } });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", (err) => reject(new Error(`the PDF thread failed to start: ${err?.message ?? String(err)}`)));
    worker.once("exit", (code) => reject(new Error(`the PDF thread stopped while starting (exit code ${code})`)));
  });
  ready.catch(() => undefined); // awaited by the job that starts the thread
  const thread = { worker, maxMemoryMb, ready };
  // A thread that fails while idle leaves the pool (while busy, its job's listeners report it). Without an
  // 'error' listener an error event of an idle thread would be thrown in the main thread.
  worker.on("error", () => undefined);
  worker.once("exit", () => {
    const at = idle.indexOf(thread);
    if (at >= 0) idle.splice(at, 1);
  });
  return thread;
}

function release(thread: PdfThread, reusable: boolean): void {
  running--;
  if (reusable && idle.length < MAX_IDLE) {
    thread.worker.unref();
    idle.push(thread);
  } else {
    void thread.worker.terminate();
  }
  waiting.shift()?.();
}

/** The error of an extraction stopped for its memory: the item fails with it, the worker goes on. */
function memoryError(what: string, maxMemoryMb: number): DocumentError {
  return new DocumentError(
    `${what}: extraction stopped, it needed more than ${maxMemoryMb} MiB of memory (PDF_THREAD_MAX_MEMORY_MB)`,
  );
}

/**
 * Calls `exceeded` (once) when the process's resident memory has grown by more than `maxMemoryMb` since the call;
 * returns the function that stops watching.
 */
function watchMemory(maxMemoryMb: number, exceeded: () => void): () => void {
  const limit = maxMemoryMb * 1024 * 1024;
  const baseline = process.memoryUsage.rss();
  const timer = setInterval(() => {
    if (process.memoryUsage.rss() - baseline <= limit) return;
    clearInterval(timer);
    exceeded();
  }, MEMORY_SAMPLE_MS);
  return () => clearInterval(timer);
}

/** PDF_THREAD_MAX_MEMORY_MB's default, for callers without a configuration. */
export const DEFAULT_PDF_THREAD_MAX_MEMORY_MB = 1024;

/**
 * Extracts the PDF `bytes` on a thread of its own (the bytes are copied). `what` names the document in errors.
 * Rejects with a DocumentError for a bad file or one whose extraction needs more than `maxMemoryMb` (the thread is
 * then terminated), with the signal's reason on abort.
 */
export async function extractPdfInThread(
  bytes: Uint8Array,
  what: string,
  signal: AbortSignal,
  opts: PdfOptions,
  maxMemoryMb = DEFAULT_PDF_THREAD_MAX_MEMORY_MB,
): Promise<PdfResult> {
  signal.throwIfAborted();
  const thread = await acquire(signal, maxMemoryMb);
  const { worker } = thread;
  let reusable = false;
  let unwatch = () => {};
  try {
    await raceAbort(thread.ready, signal);
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
      const onError = (err: Error & { code?: string }) => {
        done();
        // Where a runtime enforces resourceLimits (the backstop), it reports the thread out of memory like this.
        if (err?.code === "ERR_WORKER_OUT_OF_MEMORY") reject(memoryError(what, maxMemoryMb));
        else reject(new Error(`${what}: the PDF thread failed: ${err?.message ?? String(err)}`));
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
      unwatch = watchMemory(maxMemoryMb, () => {
        done();
        reject(memoryError(what, maxMemoryMb));
      });
      worker.postMessage(job, [job.bytes.buffer as ArrayBuffer]);
    });
    reusable = true;
    if (!reply.ok) throw reply.document ? new DocumentError(reply.message) : new Error(reply.message);
    return reply.result;
  } finally {
    unwatch();
    release(thread, reusable);
  }
}
