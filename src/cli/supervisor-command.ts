// PLACEHOLDER owned by a helper; replaced before landing.
import type { Command } from "./command.ts";

export const supervisorCommand: Command = {
  name: "supervisor",
  summary: "(supervisor: under construction)",
  help: "Usage: contentflow-worker supervisor",
  async run() {
    throw new Error("supervisor is not built yet");
  },
};
