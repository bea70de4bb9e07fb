/**
 * The e2e harness: simulated Docker hosts (namespaces + their own dockerd, default paths), the
 * underlay between them (segments joined by a router), an etcd (or an etcd cluster) on the underlay, the locally built test image, and the skip/fail
 * decision for the tier.
 * See test/e2e/harness.test.ts for a complete example.
 */
export { destroyAll } from "./cleanup.js";
export {
  HarnessError,
  run,
  runChecked,
  findExecutable,
  type ExecOptions,
  type ExecResult,
  type HarnessErrorCode,
} from "./exec.js";
export { Etcd, type EtcdKeyValue, type EtcdOptions, type EtcdStatus, type EtcdTls } from "./etcd.js";
export { startEtcd, startEtcdCluster, EtcdCluster, type EtcdClusterOptions } from "./etcd-cluster.js";
export { createHost, Host, WEAVE_BIN, HOSTS_DIR, type HostOptions, type UnderlayLink } from "./host.js";
export { TEST_IMAGE, REPO_ROOT, CACHE_DIR, buildTestImage } from "./image.js";
export { processesIn, namedNetns, isAlive } from "./procs.js";
export { createRouter, Router, ROUTER_HOST_NUMBER } from "./router.js";
export { requireE2E, E2E_BINARIES } from "./require.js";
export { createUnderlay, connectHosts, Underlay, type UnderlayOptions } from "./underlay.js";
