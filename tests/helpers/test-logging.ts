// Log output of the code under test. Test files call quietLogs() themselves (kits never configure logging when
// imported), so a test that wants to capture or see logs sets them up without fighting an import side effect.
import process from "node:process";
import { configureLogging } from "../../src/log/logger.ts";

/** Only errors from the code under test; TEST_LOG_LEVEL=debug shows everything. */
export function quietLogs(): void {
  configureLogging({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "error" });
}
