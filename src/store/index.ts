export * from "./types.js";
export { openSqliteState } from "./sqlite-state.js";
export * from "./cluster-store.js";
export { MemoryClusterStore } from "./memory-cluster-store.js";
export { EtcdStore } from "./etcd-store.js";
export type { EtcdStoreOptions } from "./etcd-store.js";
