// Shape of a CLI command and the exit codes the CLI uses.

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** sysexits EX_CONFIG: bad configuration; systemd's RestartPreventExitStatus=78 stops restart loops on it. */
export const EXIT_CONFIG = 78;

export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(argv: string[]): Promise<number>;
}
