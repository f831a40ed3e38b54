// The supervisor's telemetry (a no-op unless APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT):
// its own log lines, and its metrics — worker processes up and ready per role, restarts, hung-worker kills, the
// task queue's depth and oldest message age, uptime — with the names and labels of /metrics
// (src/api/metric-families.ts). The workers' counters come from the worker processes themselves.
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { Supervisor } from "../supervisor/supervisor.ts";
import type { BacklogSample } from "../supervisor/backlog-sampler.ts";
import { startTelemetry, type Telemetry } from "../telemetry/index.ts";
import { telemetryPlan } from "../telemetry/plan.ts";
import { supervisorTelemetryFamilies } from "../api/metric-families.ts";
import { buildInfo } from "../runtime/build-info.ts";

/** How long the supervisor's last export may take once its workers have drained. */
export const SUPERVISOR_FLUSH_MS = 2000;

export async function startSupervisorTelemetry(
  config: Config,
  supervisor: Supervisor,
  backlog: () => BacklogSample | undefined,
  logger: Logger,
): Promise<Telemetry> {
  const telemetry = await startTelemetry(telemetryPlan(config), {
    role: "supervisor",
    workerId: `${config.WORKER_NAME}-supervisor`,
    version: buildInfo().version,
    logger,
  });
  if (telemetry.enabled) telemetry.observe(() => supervisorTelemetryFamilies(supervisor, backlog()));
  return telemetry;
}
