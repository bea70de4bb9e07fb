export * from "./exposition.js";
export * from "./registry.js";
export * from "./ipam-usage.js";
export * from "./weave-metrics.js";
