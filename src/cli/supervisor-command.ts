// `contentflow-worker` / `contentflow-worker supervisor`: run the workers as child processes and serve the API.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import { configureLogging, parseLogLevel, rootLogger } from "../log/logger.ts";
import { onSignals, type RunningServer, selfCommand, serve } from "../runtime/index.ts";
import { Supervisor } from "../supervisor/supervisor.ts";
import { createApi, readiness } from "../api/app.ts";
import { parseIpRange } from "../util/ip-ranges.ts";
import { buildInfo } from "../runtime/build-info.ts";
import { BacklogSampler } from "../supervisor/backlog-sampler.ts";
import { Activity } from "../supervisor/activity.ts";
import { taskQueues } from "../queue/clients.ts";
import {
  childEnvWithoutSystemd,
  notifyExtendTimeout,
  notifyReady,
  notifyStatus,
  notifyStopping,
  startWatchdog,
} from "../runtime/sd-notify.ts";

/** Status page samples: every 5 s, 180 kept (the chart's last 15 minutes). */
const ACTIVITY_SAMPLE_MS = 5000;

const HELP = `Usage: contentflow-worker [supervisor] [--env-file PATH]

Runs NUM_PROCESSING_WORKERS processing workers and NUM_SOURCE_WORKERS source workers as child processes of this
executable, restarts crashed ones (exponential backoff with jitter), and serves the HTTP API on API_HOST:API_PORT:
  GET /health    liveness
  GET /ready     200 when every worker is up and ready, 503 (with reasons) while starting, draining or crash-looping
  GET /status    per role and per worker: pid, alive, ready, restarts, uptime, in-flight tasks, hung-worker kills
                 (bearer token if API_TOKEN; addresses in API_OPEN_STATUS_FROM get the ContentFlow API's health
                 summary without it)
  GET /metrics   Prometheus text (bearer token if API_TOKEN)
SIGTERM or SIGINT drains the workers within SHUTDOWN_DRAIN_TIMEOUT_SECONDS, then exits 0; a second signal kills
them at once. A worker that sends no heartbeat for WORKER_HEARTBEAT_TIMEOUT_SECONDS (a blocked event loop) is
killed and replaced. Under systemd (Type=notify) it sends READY=1, STATUS=, WATCHDOG=1 and STOPPING=1.

Options:
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help`;

export const supervisorCommand: Command = {
  name: "supervisor",
  summary: "Run the workers and the HTTP API (the default command)",
  help: HELP,
  async run(argv) {
    const { flags } = parseArgs(argv, { "env-file": "string" });
    const { config, sources } = await loadEffectiveConfig(flags["env-file"] as string | undefined);
    requireConnectionSettings(config);
    configureLogging({ level: parseLogLevel(config.LOG_LEVEL), file: config.LOG_FILE || undefined });
    const logger = rootLogger.child({ worker: config.WORKER_NAME, role: "supervisor" });
    // Counter history and recent failures for the status page (only kept while the API serves it).
    const activity = config.API_ENABLED ? new Activity() : undefined;
    const supervisor = new Supervisor({
      roles: { processing: config.NUM_PROCESSING_WORKERS, source: config.NUM_SOURCE_WORKERS },
      logger,
      command: (role, index) => selfCommand(["worker", `--role=${role}`, `--index=${index}`]),
      env: { ...childEnvWithoutSystemd(process.env as Record<string, string | undefined>), CFW_SUPERVISED: "1" },
      initMessage: JSON.stringify({ cmd: "config", config, sources }),
      drainTimeoutMs: config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS * 1000,
      backoffMaxMs: config.RESTART_BACKOFF_MAX_SECONDS * 1000,
      stableMs: config.RESTART_STABLE_SECONDS * 1000,
      heartbeatTimeoutMs: config.WORKER_HEARTBEAT_TIMEOUT_SECONDS * 1000,
      onChildLog: activity ? (line) => activity.observeLog(line) : undefined,
    });
    const activityTimer = activity
      ? setInterval(() => activity.sample(supervisor.counterTotals()), ACTIVITY_SAMPLE_MS)
      : undefined;
    let server: RunningServer | undefined;
    let backlog: BacklogSampler | undefined;
    if (config.API_ENABLED) {
      if (config.QUEUE_METRICS_INTERVAL_SECONDS > 0) {
        const queues = taskQueues(config);
        backlog = new BacklogSampler({
          tasks: queues.tasks,
          poison: queues.poison,
          intervalMs: config.QUEUE_METRICS_INTERVAL_SECONDS * 1000,
          logger,
        });
        backlog.start();
      }
      const sampler = backlog;
      const app = createApi({
        supervisor,
        backlog: sampler ? () => sampler.latest() : undefined,
        activity,
        workerName: config.WORKER_NAME,
        version: buildInfo().version,
        build: buildInfo(),
        apiToken: config.API_TOKEN || undefined,
        openStatusFrom: config.API_OPEN_STATUS_FROM.map(parseIpRange),
      });
      server = await serve(app.fetch, {
        port: config.API_PORT,
        hostname: config.API_HOST,
        maxRequestBodySize: 64 * 1024,
      });
      logger.info("api listening", { host: config.API_HOST, port: server.port });
    }
    supervisor.start();
    logger.info("supervisor started", {
      version: buildInfo().version,
      commit: buildInfo().commit,
      processing_workers: config.NUM_PROCESSING_WORKERS,
      source_workers: config.NUM_SOURCE_WORKERS,
    });

    // systemd integration: READY=1 once every worker is ready (or after a grace period, degraded), STATUS lines,
    // and watchdog pings only while this event loop keeps ticking.
    let lastTick = Date.now();
    let readySent = false;
    let lastStatus = "";
    const startedAt = Date.now();
    const tick = setInterval(() => {
      lastTick = Date.now();
      const r = readiness(supervisor);
      const snap = supervisor.snapshot();
      const status = ["processing", "source"].map((role) => {
        const mine = snap.filter((c) => c.role === role);
        return `${mine.filter((c) => c.ready).length}/${mine.length} ${role} ready`;
      }).join(", ") + `; ${snap.reduce((a, c) => a + c.in_flight, 0)} in flight` +
        (r.degraded.length ? `; degraded: ${r.degraded.join(",")}` : "");
      if (!readySent && (r.ready || Date.now() - startedAt > 60_000)) {
        readySent = true;
        notifyReady(status);
        logger.info(r.ready ? "all workers ready" : "workers not all ready after 60 s; reporting started anyway", {
          status,
        });
      } else if (status !== lastStatus) notifyStatus(status);
      lastStatus = status;
    }, 1000);
    const watchdog = startWatchdog({ isAlive: () => Date.now() - lastTick < 10_000 });

    const done = new Promise<void>((resolve) => {
      let signals = 0;
      onSignals(["SIGTERM", "SIGINT"], (signal) => {
        signals++;
        if (signals > 1) {
          supervisor.killAll(`second ${signal}`);
          return;
        }
        logger.info("shutdown requested", { signal });
        notifyStopping("draining workers");
        notifyExtendTimeout((config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS + 10) * 1000);
        supervisor.shutdown(signal).then(resolve);
      });
    });
    await done;
    clearInterval(tick);
    watchdog?.stop();
    await server?.close();
    await backlog?.stop();
    clearInterval(activityTimer);
    logger.info("supervisor stopped");
    return EXIT_OK;
  },
};
