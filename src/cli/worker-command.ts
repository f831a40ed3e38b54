// PLACEHOLDER owned by a helper; replaced before landing.
import type { Command } from "./command.ts";

export const workerCommand: Command = {
  name: "worker",
  summary: "(worker: under construction)",
  help: "Usage: contentflow-worker worker",
  async run() {
    throw new Error("worker is not built yet");
  },
};
