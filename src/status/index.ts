export type * from "./picture.js";
export * from "./svg.js";
export * from "./page.js";
export * from "./server.js";
