// Shape of a CLI command (the exit codes it returns are in src/model/exit-codes.ts).

export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(argv: string[]): Promise<number>;
}
