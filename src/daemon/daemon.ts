/**
 * The daemon: finds out the host's facts, builds the real adapters, composes the components
 * (compose.ts) and runs their start steps (daemon-steps.ts) until it is told to stop (SIGTERM,
 * SIGINT or the control API), then stops them in reverse order under a deadline.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../core/index.js";
import {
  createLogger,
  errorMessage,
  execFile,
  MIN_MTU,
  realClock,
  VERSION,
  WeaveError,
} from "../core/index.js";
import type { Config } from "../config/index.js";
import { parseStoreUrl } from "../config/index.js";
import {
  ExecSysctl,
  IprouteDataplane,
  IprouteOverlay,
  KeptBatches,
  IprouteRouted,
  WireguardDevice,
} from "../dataplane/index.js";
import { KeyFile, transportOverhead } from "../cluster/index.js";
import { DockerClient } from "../docker/index.js";
import type { PortRange } from "../ports/index.js";
import {
  DEFAULT_EPHEMERAL_RANGE,
  NftPortDataplane,
  parsePortRange,
  SocketPortReserver,
} from "../ports/index.js";
import type { LocalState } from "../store/index.js";
import { EtcdStore, loadStoreTls, openSqliteState } from "../store/index.js";
import type { Adapters, HostFacts } from "./compose.js";
import { composeDaemon } from "./compose.js";
import { daemonSteps } from "./daemon-steps.js";
import {
  detectAdvertiseAddr,
  detectMtu,
  FALLBACK_UNDERLAY_MTU,
  resolveGroup,
  ulaRange,
  underlayFacts,
} from "./host.js";
import { deviceName, presharedKeyOf } from "./password.js";
import { startSteps } from "./lifecycle.js";

export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Runs the daemon until it is told to stop. Resolves when it has shut down; rejects (before
 * listening) when it cannot start, e.g. WEAVE_PERMISSION when not root, WEAVE_CONFLICT when another
 * daemon owns the socket.
 */
export async function runDaemon(config: Config, logger?: Logger): Promise<void> {
  const log = logger ?? createLogger({ level: config.logLevel, component: "weave" });
  if (process.getuid?.() !== 0) {
    throw new WeaveError(
      "WEAVE_PERMISSION",
      "weave must run as root (it creates bridges, veths and firewall rules)",
    );
  }
  const socketGid = resolveGroup(config.socketGroup);
  mkdirSync(config.runDir, { recursive: true, mode: 0o755 });
  // Creates the state directory 0700 (or tightens it) and the database files 0600.
  const state = openSqliteState(join(config.stateDir, "weave.db"), { logger: log.child("state") });
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  let stop: () => Promise<void>;
  let mtu: number;
  // Until the steps run, the state is closed here; from then on by its step.
  let stateOwnedBySteps = false;
  try {
    const { adapters, facts } = await hostAdapters(config, state, socketGid, log);
    mtu = facts.mtu;
    const daemon = composeDaemon({
      config,
      adapters,
      facts,
      logger: log,
      stop: () => setImmediate(stopRequested),
    });
    const steps = daemonSteps(daemon, {
      config,
      dataplane: adapters.dataplane,
      reserver: adapters.ports.reserver,
      logger: log,
      advertiseAddr: facts.advertiseAddr,
    });
    stateOwnedBySteps = true;
    stop = await startSteps(steps, log);
  } catch (err) {
    if (!stateOwnedBySteps) state.close();
    throw err;
  }
  const onSignal = (signal: string) => {
    log.info("signal received, stopping", { signal });
    stopRequested();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  log.info("weave started", { version: VERSION, socket: config.socket, stateDir: config.stateDir, mtu });
  await stopped;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  const deadline = setTimeout(() => {
    log.error("shutdown took too long; exiting");
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  await stop();
  clearTimeout(deadline);
  log.info("weave stopped");
}

/** The host's facts (MTU, cluster address, ULA range, ...) and the real adapters over them. */
async function hostAdapters(
  config: Config,
  state: LocalState,
  socketGid: number,
  log: Logger,
): Promise<{ adapters: Adapters; facts: HostFacts }> {
  const storeUrl = config.store !== "" ? parseStoreUrl(config.store) : undefined;
  const advertiseAddr = storeUrl
    ? config.advertiseAddr || (await detectAdvertiseAddr(execFile, storeUrl.endpoints))
    : "";
  const underlay = storeUrl ? await underlayFacts(execFile, advertiseAddr) : { mtu: 0, attached: [] };
  const presharedKey = await presharedKeyOf(config, log);
  const overhead = transportOverhead(config.transport, presharedKey !== undefined);
  const mtu =
    config.mtu ??
    (storeUrl
      ? Math.max(MIN_MTU, (underlay.mtu || FALLBACK_UNDERLAY_MTU) - overhead)
      : await detectMtu(execFile));
  const exec = execFile;
  const cluster = storeUrl && {
    store: new EtcdStore(
      await loadStoreTls(
        { ca: config.storeCa, cert: config.storeCert, key: config.storeKey },
        storeUrl.endpoints,
      ),
    ),
    overlay: new IprouteOverlay({ exec, logger: log.child("overlay"), batches: new KeptBatches() }),
    routed: new IprouteRouted({ exec, logger: log.child("routed") }),
    wireguard: new WireguardDevice({ exec, logger: log.child("wireguard") }),
    sysctl: new ExecSysctl(exec),
    keys: new KeyFile(config.stateDir),
  };
  return {
    facts: {
      mtu,
      underlayMtu: underlay.mtu || FALLBACK_UNDERLAY_MTU,
      attached: underlay.attached,
      presharedKey,
      advertiseAddr,
      ulaRange: ulaRange(state),
      ephemeral: ephemeralRange(log),
      socketGid,
    },
    adapters: {
      state,
      dataplane: new IprouteDataplane({
        exec: execFile,
        logger: log.child("dataplane"),
        host:
          presharedKey !== undefined
            ? { encrypted: { device: deviceName(config), vxlanPort: config.vxlanPort } }
            : {},
      }),
      docker: new DockerClient({ socketPath: config.dockerSocket }),
      ports: {
        dataplane: new NftPortDataplane(execFile, log.child("ports")),
        reserver: new SocketPortReserver(),
      },
      ...(cluster ? { cluster } : {}),
      clock: realClock,
    },
  };
}

/** The kernel's ephemeral port range, where Docker's bridge driver picks host ports too. */
function ephemeralRange(log: Logger): PortRange {
  const path = "/proc/sys/net/ipv4/ip_local_port_range";
  try {
    return parsePortRange(readFileSync(path, "utf8"));
  } catch (err) {
    log.warning("cannot read the ephemeral port range; using Docker's default", {
      path,
      error: errorMessage(err),
    });
    return DEFAULT_EPHEMERAL_RANGE;
  }
}
