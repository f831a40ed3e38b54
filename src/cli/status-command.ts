// PLACEHOLDER owned by a helper; replaced before landing.
import type { Command } from "./command.ts";

export const statusCommand: Command = {
  name: "status",
  summary: "(status: under construction)",
  help: "Usage: contentflow-worker status",
  async run() {
    throw new Error("status is not built yet");
  },
};
