// Process exit codes, shared by the CLI (what a command returns) and the supervisor (what a child's exit means).

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** sysexits EX_CONFIG: bad configuration; systemd's RestartPreventExitStatus=78 stops restart loops on it. */
export const EXIT_CONFIG = 78;
