// `contentflow-worker` / `contentflow-worker supervisor`: run the workers as child processes and serve the API.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import { configureLogging, parseLogLevel, rootLogger } from "../log/logger.ts";
import { type FetchHandler, onSignals, type RunningServer, selfCommand, serve } from "../runtime/index.ts";
import { Supervisor } from "../supervisor/supervisor.ts";
import { createApi, createStartingApi, readiness } from "../api/app.ts";
import type { LoadedConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { AppConfigUnavailableError } from "../config/appconfig.ts";
import { configWarnings } from "../config/explain.ts";
import { parseIpRange } from "../util/ip-ranges.ts";
import { buildInfo } from "../runtime/build-info.ts";
import { BacklogSampler } from "../supervisor/backlog-sampler.ts";
import { Activity } from "../supervisor/activity.ts";
import { taskQueues } from "../queue/clients.ts";
import { startSupervisorTelemetry, SUPERVISOR_FLUSH_MS } from "./supervisor-telemetry.ts";
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

/** READY=1 goes to systemd at the latest this long after start, even when not every worker is ready. */
const READY_GRACE_MS = 60_000;

/** A signal arrived while the configuration was still awaited. */
class WaitStopped extends Error {
  constructor(readonly signal: string) {
    super(`stopped by ${signal} while waiting for App Configuration`);
  }
}

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
killed and replaced. Under systemd (Type=notify) it sends READY=1 (once every worker is ready, or after 60 s
whatever their state), STATUS=, WATCHDOG=1 and STOPPING=1.

When Azure App Configuration is set but cannot be read at start (unreachable, DNS, 403 while a role assignment
propagates…), it keeps trying (1 s, doubling, at most 30 s between attempts) instead of exiting: meanwhile the
API on the environment's API_HOST:API_PORT answers /health with 200 and /ready with 503 naming the store and the
failure, and the workers start once the store answers. If the environment alone holds every required setting
(STORAGE_ACCOUNT_WORKER_QUEUE_URL or STORAGE_QUEUE_CONNECTION_STRING, and COSMOS_DB_ENDPOINT) it warns and runs
on the environment instead, as the Python worker does.

Options:
  --env-file PATH   read this env file instead of ./.env, as systemd's EnvironmentFile= reads it
  -h, --help        show this help`;

export const supervisorCommand: Command = {
  name: "supervisor",
  summary: "Run the workers and the HTTP API (the default command)",
  help: HELP,
  async run(argv) {
    const { flags } = parseArgs(argv, { "env-file": "string" });
    return await new SupervisorRun().run(flags["env-file"] as string | undefined);
  },
};

/**
 * One run of the supervisor, in steps: report to systemd from the first moment → wait for the configuration
 * (serving a starting API meanwhile) → start the workers → serve the API → drain on a signal → stop.
 */
class SupervisorRun {
  private readonly startedAt = Date.now();
  private logger = rootLogger.child({ role: "supervisor" });
  /** The running supervisor, once the configuration is known. */
  private supervisor: Supervisor | undefined;
  /** Why the configuration is still awaited (the STATUS line and the starting API's /ready). */
  private waitingFor: string | undefined;
  private server: RunningServer | undefined;
  private handler: FetchHandler | undefined;
  /** The address the waiting API was asked to bind (API_PORT=0 binds any free port: compare the setting). */
  private waitingAddress: { host: string; port: number } | undefined;

  async run(envFile: string | undefined): Promise<number> {
    const systemd = this.reportToSystemd();
    const loaded = await this.awaitConfig(envFile, systemd);
    if (!loaded) return EXIT_OK;
    const { config, sources } = loaded;
    requireConnectionSettings(config);
    configureLogging({ level: parseLogLevel(config.LOG_LEVEL), file: config.LOG_FILE || undefined });
    const logger = this.logger = rootLogger.child({ worker: config.WORKER_NAME, role: "supervisor" });
    for (const warning of configWarnings(loaded)) logger.warn(warning);
    // Counter history and recent failures for the status page (only kept while the API serves it).
    const activity = config.API_ENABLED ? new Activity() : undefined;
    const running = new Supervisor({
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
      ? setInterval(() => activity.sample(running.counterTotals()), ACTIVITY_SAMPLE_MS)
      : undefined;
    const backlog = await this.serveApi(config, running, activity);
    running.start();
    const telemetry = await startSupervisorTelemetry(config, running, () => backlog?.latest(), logger);
    this.supervisor = running;
    logger.info("supervisor started", {
      version: buildInfo().version,
      commit: buildInfo().commit,
      processing_workers: config.NUM_PROCESSING_WORKERS,
      source_workers: config.NUM_SOURCE_WORKERS,
    });
    await this.shutdownRequested(running, config);
    systemd.stop();
    await this.server?.close();
    await Promise.all([backlog?.stop(), telemetry.shutdown(SUPERVISOR_FLUSH_MS)]);
    clearInterval(activityTimer);
    logger.info("supervisor stopped");
    return EXIT_OK;
  }

  /**
   * systemd integration from the first moment: READY=1 once every worker is ready (or after a 60 s grace,
   * degraded: also while App Configuration cannot be read yet, so a long outage does not fail the unit's start),
   * STATUS lines, and watchdog pings only while this event loop keeps ticking.
   */
  private reportToSystemd(): { stop(): void } {
    let lastTick = Date.now();
    let readySent = false;
    let lastStatus = "";
    const tick = setInterval(() => {
      lastTick = Date.now();
      let status: string;
      let ready = false;
      const supervisor = this.supervisor;
      if (supervisor) {
        const r = readiness(supervisor);
        const snap = supervisor.snapshot();
        ready = r.ready;
        status = ["processing", "source"].map((role) => {
          const mine = snap.filter((c) => c.role === role);
          return `${mine.filter((c) => c.ready).length}/${mine.length} ${role} ready`;
        }).join(", ") + `; ${snap.reduce((a, c) => a + c.in_flight, 0)} in flight` +
          (r.degraded.length ? `; degraded: ${r.degraded.join(",")}` : "");
      } else {
        status = `waiting for configuration${this.waitingFor ? `: ${this.waitingFor}` : ""}`;
      }
      if (!readySent && (ready || Date.now() - this.startedAt > READY_GRACE_MS)) {
        readySent = true;
        notifyReady(status);
        if (ready) this.logger.info("all workers ready", { status });
        else this.logger.warn("not ready after 60 s; reporting started to systemd anyway", { status });
      } else if (status !== lastStatus) notifyStatus(status);
      lastStatus = status;
    }, 1000);
    const watchdog = startWatchdog({ isAlive: () => Date.now() - lastTick < 10_000 });
    return {
      stop() {
        clearInterval(tick);
        watchdog?.stop();
      },
    };
  }

  /**
   * The effective configuration. While App Configuration cannot be read: the API on the environment's address
   * answers /health, and /ready says why nothing runs yet. A signal ends the wait: undefined (the process exits 0).
   */
  private async awaitConfig(envFile: string | undefined, systemd: { stop(): void }): Promise<LoadedConfig | undefined> {
    const stopWaiting = new AbortController();
    const offWaitSignals = onSignals(["SIGTERM", "SIGINT"], (signal) => stopWaiting.abort(new WaitStopped(signal)));
    let loaded: LoadedConfig;
    try {
      loaded = await loadEffectiveConfig(envFile, {
        signal: stopWaiting.signal,
        onRetry: (pre, err, delayMs, attempt) => this.onConfigRetry(pre, err, delayMs, attempt),
        onEnvironmentOnly(pre, err) {
          configureLogging({ level: parseLogLevel(pre.LOG_LEVEL), file: pre.LOG_FILE || undefined });
          rootLogger.child({ worker: pre.WORKER_NAME, role: "supervisor" }).warn(
            "App Configuration cannot be read; running on the environment alone, which holds every required " +
              "setting (its App Configuration values are not applied: restart the service once the store answers)",
            { error: err.failure.text },
          );
        },
      });
    } catch (err) {
      systemd.stop();
      await this.server?.close();
      if (err instanceof WaitStopped) {
        this.logger.info("stopped while waiting for App Configuration", { signal: err.signal });
        return undefined;
      }
      throw err;
    } finally {
      offWaitSignals();
    }
    if (stopWaiting.signal.aborted) {
      // The signal came while the store was being read and it answered: stop before starting anything.
      systemd.stop();
      await this.server?.close();
      this.logger.info("stopped while waiting for App Configuration", { signal: stopWaiting.signal.reason?.signal });
      return undefined;
    }
    return loaded;
  }

  /** After each failed read of App Configuration: logs it and, on the first, starts the starting API. */
  private async onConfigRetry(pre: Config, err: AppConfigUnavailableError, delayMs: number, attempt: number) {
    if (attempt === 1) {
      configureLogging({ level: parseLogLevel(pre.LOG_LEVEL), file: pre.LOG_FILE || undefined });
      this.logger = rootLogger.child({ worker: pre.WORKER_NAME, role: "supervisor" });
    }
    this.waitingFor = `${err.failure.text}; retrying (attempt ${attempt + 1} in ${Math.round(delayMs / 1000)} s)`;
    this.logger.error("App Configuration cannot be read; the workers start once it answers", {
      error: err.failure.text,
      attempt,
      retry_in_ms: delayMs,
    });
    if (pre.API_ENABLED && !this.server) {
      const starting = createStartingApi({
        workerName: pre.WORKER_NAME,
        version: buildInfo().version,
        build: buildInfo(),
        startedAt: this.startedAt,
        reason: () => `not started: App Configuration cannot be read yet: ${this.waitingFor ?? ""}`,
      });
      this.handler = starting.fetch;
      this.waitingAddress = { host: pre.API_HOST, port: pre.API_PORT };
      this.server = await serve((req, info) => this.handler!(req, info), {
        port: pre.API_PORT,
        hostname: pre.API_HOST,
        maxRequestBodySize: 64 * 1024,
      });
      this.logger.info("api listening while waiting for App Configuration", {
        host: pre.API_HOST,
        port: this.server.port,
      });
    }
  }

  /** The API of the running supervisor (and its queue backlog sampler), on the socket of the waiting API if kept. */
  private async serveApi(
    config: Config,
    running: Supervisor,
    activity: Activity | undefined,
  ): Promise<BacklogSampler | undefined> {
    const { logger } = this;
    let backlog: BacklogSampler | undefined;
    // The waiting API keeps its socket when the store left the address alone; otherwise it makes way.
    const waiting = this.waitingAddress;
    if (
      this.server &&
      (!config.API_ENABLED || waiting?.host !== config.API_HOST || waiting.port !== config.API_PORT)
    ) {
      await this.server.close();
      this.server = undefined;
    }
    if (!config.API_ENABLED) return backlog;
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
      supervisor: running,
      backlog: sampler ? () => sampler.latest() : undefined,
      activity,
      workerName: config.WORKER_NAME,
      version: buildInfo().version,
      build: buildInfo(),
      apiToken: config.API_TOKEN || undefined,
      openStatusFrom: config.API_OPEN_STATUS_FROM.map(parseIpRange),
    });
    this.handler = app.fetch;
    this.server ??= await serve((req, info) => this.handler!(req, info), {
      port: config.API_PORT,
      hostname: config.API_HOST,
      maxRequestBodySize: 64 * 1024,
    });
    logger.info("api listening", { host: config.API_HOST, port: this.server.port });
    return backlog;
  }

  /** Resolves once the workers have drained after SIGTERM or SIGINT; a second signal kills them at once. */
  private shutdownRequested(running: Supervisor, config: Config): Promise<void> {
    const { logger } = this;
    return new Promise<void>((resolve) => {
      let signals = 0;
      onSignals(["SIGTERM", "SIGINT"], (signal) => {
        signals++;
        if (signals > 1) {
          running.killAll(`second ${signal}`);
          return;
        }
        logger.info("shutdown requested", { signal });
        notifyStopping("draining workers");
        notifyExtendTimeout((config.SHUTDOWN_DRAIN_TIMEOUT_SECONDS + 10) * 1000);
        running.shutdown(signal).then(resolve);
      });
    });
  }
}
