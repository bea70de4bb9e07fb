/**
 * A minimal Docker Engine API client over the unix socket, through the HttpTransport port
 * (node:http by default; no dependencies). Answers are decoded into the shapes of types.ts at this
 * edge. Never call it from inside a plugin call: dockerd may be waiting for our answer.
 */
import type { Decoder, HttpResponse, HttpTransport } from "../core/index.js";
import {
  WeaveError,
  arrayOf,
  decodeJson,
  errorMessage,
  fields,
  isHttpTimeout,
  nodeHttp,
  str,
} from "../core/index.js";
import * as decode from "./decode.js";
import type {
  CreateNetworkBody,
  DockerApi,
  DockerContainer,
  DockerContainerSummary,
  DockerNetwork,
  DockerNetworkSummary,
} from "./types.js";

export const DOCKER_API_VERSION = "v1.41";

export interface DockerClientOptions {
  socketPath: string;
  /** Idle timeout of each call, in ms (default 10000). */
  timeoutMs?: number;
  /** How requests are sent (default: node:http). */
  http?: HttpTransport;
}

export class DockerClient implements DockerApi {
  private readonly timeoutMs: number;
  private readonly http: HttpTransport;

  constructor(private readonly options: DockerClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.http = options.http ?? nodeHttp;
  }

  async ping(): Promise<void> {
    await this.call("GET", "/_ping");
  }

  version(): Promise<{ Version: string; ApiVersion: string }> {
    return this.json("GET", "/version", decode.version);
  }

  listNetworks(filters?: Record<string, string[]>): Promise<DockerNetworkSummary[]> {
    const q = filters ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : "";
    return this.json("GET", `/networks${q}`, arrayOf(decode.networkSummary));
  }

  inspectNetwork(id: string): Promise<DockerNetwork> {
    return this.json("GET", `/networks/${encodeURIComponent(id)}`, decode.network);
  }

  listContainers(): Promise<DockerContainerSummary[]> {
    return this.json("GET", "/containers/json", arrayOf(decode.containerSummary));
  }

  inspectContainer(id: string): Promise<DockerContainer> {
    return this.json("GET", `/containers/${encodeURIComponent(id)}/json`, decode.container);
  }

  createNetwork(body: CreateNetworkBody): Promise<{ Id: string }> {
    return this.json("POST", "/networks/create", decode.created, body);
  }

  async removeNetwork(id: string): Promise<void> {
    await this.call("DELETE", `/networks/${encodeURIComponent(id)}`);
  }

  /** A call whose answer is JSON of the shape `decoder` reads; WEAVE_DOCKER when it is not. */
  private async json<T>(method: string, path: string, decoder: Decoder<T>, body?: unknown): Promise<T> {
    const res = await this.call(method, path, body);
    return decodeJson("WEAVE_DOCKER", `Docker API ${method} ${path}`, res.body, decoder);
  }

  /**
   * Sends one request; rejects with WEAVE_NOT_FOUND for a 404, WEAVE_DOCKER for any other status of
   * 400 or more (quoting Docker's message) and for a socket that fails or stays silent for timeoutMs.
   */
  private async call(method: string, path: string, body?: unknown): Promise<HttpResponse> {
    const fullPath = path === "/_ping" ? path : `/${DOCKER_API_VERSION}${path}`;
    let res: HttpResponse;
    try {
      res = await this.http.request({
        target: { socketPath: this.options.socketPath },
        method,
        path: fullPath,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }),
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      const why = isHttpTimeout(err) ? `timed out after ${this.timeoutMs} ms` : errorMessage(err);
      throw new WeaveError(
        "WEAVE_DOCKER",
        `Cannot reach Docker at "${this.options.socketPath}" (${method} ${path}): ${why}`,
        { cause: err },
      );
    }
    if (res.status >= 400) {
      const code = res.status === 404 ? "WEAVE_NOT_FOUND" : "WEAVE_DOCKER";
      throw new WeaveError(
        code,
        `Docker API ${method} ${path} failed (${res.status}): ${dockerMessage(res.body)}`,
      );
    }
    return res;
  }
}

/** Docker's `{"message": ...}` error text, or the body itself when it is not that. */
function dockerMessage(body: string): string {
  try {
    return decodeJson("WEAVE_DOCKER", "", body, (v, at) => fields(v, at).req("message", str));
  } catch {
    return body.trim();
  }
}
