// Lines to stdout written together, once per turn of the event loop, instead of one write each. A supervised worker
// writes a log line per task and its state reports to the supervisor's pipe; each write is a system call and wakes
// the supervisor to read it. Batching keeps the order of the lines (everything the worker writes to stdout goes
// through one batch) and delays a line by at most the rest of the current turn. The batch is written at once when it
// reaches MAX_BATCH_CHARS, and on exit; a process killed outright (SIGKILL) loses only the lines of its last turn.
import process from "node:process";
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

let stdoutBatch: LineBatch | undefined;

/** The process's one batch of stdout lines (written on exit too). */
export function batchedStdout(): LineBatch {
  if (!stdoutBatch) {
    const batch = stdoutBatch = new LineBatch((text) => void process.stdout.write(text));
    process.on("exit", () => batch.flush());
  }
  return stdoutBatch;
}
