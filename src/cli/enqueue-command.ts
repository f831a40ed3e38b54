// PLACEHOLDER owned by a helper; replaced before landing.
import type { Command } from "./command.ts";

export const enqueueCommand: Command = {
  name: "enqueue",
  summary: "(enqueue: under construction)",
  help: "Usage: contentflow-worker enqueue",
  async run() {
    throw new Error("enqueue is not built yet");
  },
};
