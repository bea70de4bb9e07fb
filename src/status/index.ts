export * from "./listen-address.js";
export * from "./svg.js";
export * from "./page.js";
export * from "./server.js";
