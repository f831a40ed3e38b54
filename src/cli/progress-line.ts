// A progress line for long commands, shown only on a terminal: rewritten in place (carriage return, clear to the end
// of the line), first after a second, then at most twice a second, and cleared when the command is done. On a pipe
// or file nothing is written, so output meant for scripts stays clean.

export interface ProgressSink {
  /** Whether the stream is a terminal. */
  isTTY: boolean;
  write(text: string): void;
}

export class ProgressLine {
  private readonly started = Date.now();
  private last = 0;
  private shown = false;

  constructor(
    private readonly sink: ProgressSink | undefined,
    private readonly label: string,
    private readonly timing = { firstAfterMs: 1000, everyMs: 500 },
  ) {}

  update(text: string): void {
    if (!this.sink?.isTTY) return;
    const now = Date.now();
    if (now - this.started < this.timing.firstAfterMs || now - this.last < this.timing.everyMs) return;
    this.last = now;
    this.shown = true;
    this.sink.write(`\r${this.label}: ${text}\x1b[K`);
  }

  done(): void {
    if (this.shown) this.sink?.write("\r\x1b[K");
    this.shown = false;
  }
}
