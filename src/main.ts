// contentflow-worker CLI: `contentflow-worker [supervisor]`, `worker --role=…`, `enqueue`, `status`, `pipeline check`,
// `config`, `version`.
import process from "node:process";
import type { Command } from "./cli/command.ts";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE } from "./model/exit-codes.ts";
import { errorText } from "./util/errors.ts";
import { UsageError } from "./cli/args.ts";
import { ConfigError } from "./config/load.ts";
import { AppConfigUnavailableError } from "./config/appconfig.ts";
import { redactText } from "./util/redact.ts";
import { describeDependencyError, isDependencyError } from "./util/dependency-error.ts";
import { userArgs } from "./runtime/index.ts";
import { configCommand } from "./cli/config-command.ts";
import { versionCommand } from "./cli/version-command.ts";
import { supervisorCommand } from "./cli/supervisor-command.ts";
import { workerCommand } from "./cli/worker-command.ts";
import { enqueueCommand } from "./cli/enqueue-command.ts";
import { statusCommand } from "./cli/status-command.ts";
import { poisonCommand } from "./cli/poison-command.ts";
import { executionsCommand } from "./cli/executions-command.ts";
import { pipelineCommand } from "./cli/pipeline-command.ts";

const commands: Command[] = [
  supervisorCommand,
  workerCommand,
  enqueueCommand,
  statusCommand,
  poisonCommand,
  executionsCommand,
  pipelineCommand,
  configCommand,
  versionCommand,
];

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `contentflow-worker: runs ContentFlow content pipelines (a drop-in for the Python contentflow-worker)

Usage:
  contentflow-worker [supervisor options]     run the supervisor (the default): workers + HTTP API
  contentflow-worker <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run 'contentflow-worker <command> --help' for a command's options.
Configuration comes from the environment, ./.env and Azure App Configuration; see 'contentflow-worker config'.`;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    if (first === "help" && rest[0]) {
      const cmd = commands.find((c) => c.name === rest[0]);
      if (!cmd) throw new UsageError(`unknown command '${rest[0]}'`);
      process.stdout.write(cmd.help + "\n");
      return 0;
    }
    process.stdout.write(mainHelp() + "\n");
    return 0;
  }
  if (first === "--version") return await versionCommand.run([]);
  let command = supervisorCommand;
  let commandArgs = argv;
  if (first !== undefined && !first.startsWith("-")) {
    const found = commands.find((c) => c.name === first);
    if (!found) throw new UsageError(`unknown command '${first}'`);
    command = found;
    commandArgs = rest;
  }
  if (commandArgs.includes("--help") || commandArgs.includes("-h")) {
    process.stdout.write(command.help + "\n");
    return 0;
  }
  try {
    return await command.run(commandArgs);
  } catch (err) {
    if (err instanceof UsageError) throw new CommandUsageError(err, command.name);
    throw err;
  }
}

/** A usage error of one command: the message points at that command's --help. */
class CommandUsageError extends UsageError {
  constructor(err: UsageError, readonly command: string) {
    super(err.message);
  }
}

/**
 * The message for an error no command handled: usage errors point at the right --help; a failure to reach Cosmos
 * DB, a storage queue, blob storage or App Configuration names the service, the endpoint and the kind of failure
 * (src/util/dependency-error.ts); anything else is its message. Always redacted.
 */
export function topLevelErrorMessage(err: unknown): string {
  if (err instanceof CommandUsageError) {
    return `${err.message} (see 'contentflow-worker ${err.command} --help')`;
  }
  if (err instanceof UsageError) return `${err.message} (see 'contentflow-worker --help')`;
  if (err instanceof ConfigError) return redactText(err.message);
  // Already described (service, endpoint, kind) where it was thrown.
  if (err instanceof AppConfigUnavailableError) return redactText(err.message);
  if (isDependencyError(err)) return redactText(describeDependencyError(err).text);
  return redactText(errorText(err));
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(userArgs());
  } catch (err) {
    process.stderr.write(`contentflow-worker: ${topLevelErrorMessage(err)}\n`);
    if (err instanceof UsageError) {
      code = EXIT_USAGE;
    } else if (err instanceof ConfigError) {
      code = EXIT_CONFIG;
    } else {
      const stack = (err as Error | undefined)?.stack;
      if (process.env.CFW_DEBUG_STACK === "1" && stack) process.stderr.write(redactText(stack) + "\n");
      code = EXIT_FAILURE;
    }
  }
  process.exit(code);
}
