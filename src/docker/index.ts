export * from "./types.js";
export * from "./client.js";
export * from "./fake-docker.js";
export * from "./events.js";
