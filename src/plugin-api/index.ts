export * from "./http-guard.js";
export * from "./routes.js";
export * from "./server.js";
export * from "./unix-socket.js";
export { Reader, parseBody } from "./validate.js";
