export * from "./types.js";
export * from "./network-spec.js";
export * from "./input-checks.js";
export * from "./network-driver.js";
export * from "./events.js";
