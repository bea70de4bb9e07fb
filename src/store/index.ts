export * from "./types.js";
export { openSqliteState } from "./sqlite-open.js";
export type { SqliteStateOptions } from "./sqlite-open.js";
export * from "./cluster-store.js";
export { MemoryClusterStore } from "./memory-cluster-store.js";
export { EtcdStore } from "./etcd-store.js";
export type { EtcdStoreOptions, EtcdTlsOptions } from "./etcd-store.js";
export { loadStoreTls } from "./store-tls.js";
export type { StoreTlsFiles } from "./store-tls.js";
