// `contentflow-worker version`: version, git commit, build date, target and runtime of this executable.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { buildInfo } from "../runtime/build-info.ts";

export const versionCommand: Command = {
  name: "version",
  summary: "Print the version, git commit, build date, target and runtime",
  help: `Usage: contentflow-worker version [--json]

Prints the version, the git commit and date it was built from, the target (e.g. linux-x64) and the runtime
(bun-compiled for the released binary; deno or bun when run from source).

Options:
  --json       print {"version","commit","build_date","target","runtime"} as one JSON line
  -h, --help   show this help`,
  async run(argv) {
    const { flags } = parseArgs(argv, { json: "boolean" });
    const info = buildInfo();
    if (flags.json) process.stdout.write(JSON.stringify(info) + "\n");
    else {
      process.stdout.write(
        `contentflow-worker ${info.version}\ncommit:  ${info.commit}\nbuilt:   ${info.build_date}\n` +
          `target:  ${info.target}\nruntime: ${info.runtime}\n`,
      );
    }
    return EXIT_OK;
  },
};
