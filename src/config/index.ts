export * from "./config.js";
export * from "./store-url.js";
