// Lines to stdout written together, once per turn of the event loop, instead of one write each. A supervised worker
// writes a log line per task and its state reports to the supervisor's pipe; each write is a system call and wakes
// the supervisor to read it. Batching keeps the order of the lines (everything the worker writes to stdout goes
// through one batch) and delays a line by at most the rest of the current turn. The batch is written at once when it
// reaches MAX_BATCH_CHARS, and on exit; a process killed outright (SIGKILL) loses only the lines of its last turn.
//
// The batches go to stdout with synchronous writes, as Node.js writes to pipes: under Bun, process.stdout.write to
// a full pipe only queues the text, and what is still queued when the process exits is lost (measured: 309 of
// 5,001 lines reached a reader that was 1 s late). A synchronous write waits until the reader has taken it.
import process from "node:process";
import { writeSync } from "node:fs";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

/** A batch of this many characters (string length) is written at once instead of at the end of the turn. */
export const MAX_BATCH_CHARS = 64 * 1024;

export class LineBatch {
  private lines: string[] = [];
  private chars = 0;
  private scheduled = false;

  /** `out` gets one or more whole lines, each ending in "\n". */
  constructor(private readonly out: (text: string) => void) {}

  /** Queues `line` (without its "\n") for the end of the current turn. */
  readonly write = (line: string): void => {
    this.lines.push(line);
    this.chars += line.length + 1;
    if (this.chars >= MAX_BATCH_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  };

  /** Writes what is queued now. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join("\n") + "\n";
    this.lines = [];
    this.chars = 0;
    this.out(text);
  };
}

/** How long one wait for a full non-blocking pipe lasts before the write is tried again (ms). */
const FULL_PIPE_WAIT_MS = 2;
const waitCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` to file descriptor `fd` before it returns, waiting while the pipe is full (Bun makes stdout
 * non-blocking once process.stdout is used, and a full non-blocking pipe answers EAGAIN). Returns false, having
 * written what it could, when nobody reads the pipe any more (EPIPE); other errors are thrown.
 */
export function writeAllSync(fd: number, text: string): boolean {
  const bytes = Buffer.from(text, "utf8");
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "EPIPE") return false;
      if (code !== "EAGAIN") throw err;
      Atomics.wait(waitCell, 0, 0, FULL_PIPE_WAIT_MS);
    }
  }
  return true;
}

let stdoutBatch: LineBatch | undefined;

/**
 * The process's one batch of stdout lines (written on exit too), written synchronously (see above). Once nobody
 * reads stdout (the supervisor is gone) the lines are dropped.
 */
export function batchedStdout(): LineBatch {
  if (!stdoutBatch) {
    let readerGone = false;
    const batch = stdoutBatch = new LineBatch((text) => {
      if (!readerGone) readerGone = !writeAllSync(1, text);
    });
    process.on("exit", () => batch.flush());
  }
  return stdoutBatch;
}
