export * from "./errors.js";
export * from "./log.js";
export * from "./serial-queue.js";
export * from "./exec.js";
export * from "./json.js";
export * from "./version.js";
export * from "./lines.js";
export * from "./netdev.js";
