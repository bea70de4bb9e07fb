export * from "./types.js";
export { openSqliteState } from "./sqlite-open.js";
export type { SqliteStateOptions } from "./sqlite-open.js";
export * from "./cluster-store.js";
export { MemoryClusterStore } from "./memory-cluster-store.js";
export { EtcdStore } from "./etcd-store.js";
export type { EtcdStoreOptions, EtcdTlsOptions } from "./etcd-store.js";
export { DEFAULT_ETCD_PORT, loadStoreTls, parseStoreUrl } from "./store-url.js";
export type { StoreTlsFiles, StoreUrl } from "./store-url.js";
