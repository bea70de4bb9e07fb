/**
 * A minimal Docker Engine API client over the unix socket (node:http; no dependencies).
 * Never call it from inside a plugin call: dockerd may be waiting for our answer.
 */
import { request } from "node:http";
import { WeaveError } from "../core/index.js";
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
  timeoutMs?: number;
}

export class DockerClient implements DockerApi {
  private readonly timeoutMs: number;

  constructor(private readonly options: DockerClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async ping(): Promise<void> {
    await this.call("GET", "/_ping", undefined, false);
  }

  version(): Promise<{ Version: string; ApiVersion: string }> {
    return this.call("GET", "/version") as Promise<{ Version: string; ApiVersion: string }>;
  }

  listNetworks(filters?: Record<string, string[]>): Promise<DockerNetworkSummary[]> {
    const q = filters ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : "";
    return this.call("GET", `/networks${q}`) as Promise<DockerNetworkSummary[]>;
  }

  inspectNetwork(id: string): Promise<DockerNetwork> {
    return this.call("GET", `/networks/${encodeURIComponent(id)}`) as Promise<DockerNetwork>;
  }

  listContainers(): Promise<DockerContainerSummary[]> {
    return this.call("GET", "/containers/json") as Promise<DockerContainerSummary[]>;
  }

  inspectContainer(id: string): Promise<DockerContainer> {
    return this.call("GET", `/containers/${encodeURIComponent(id)}/json`) as Promise<DockerContainer>;
  }

  createNetwork(body: CreateNetworkBody): Promise<{ Id: string }> {
    return this.call("POST", "/networks/create", body) as Promise<{ Id: string }>;
  }

  async removeNetwork(id: string): Promise<void> {
    await this.call("DELETE", `/networks/${encodeURIComponent(id)}`, undefined, false);
  }

  private call(method: string, path: string, body?: unknown, json = true): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const fullPath = path === "/_ping" ? path : `/${DOCKER_API_VERSION}${path}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.options.socketPath,
          path: fullPath,
          method,
          headers: payload
            ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }
            : {},
          timeout: this.timeoutMs,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              let message = text.trim();
              try {
                message = (JSON.parse(text) as { message?: string }).message ?? message;
              } catch {
                // Not JSON: keep the text.
              }
              const code = status === 404 ? "WEAVE_NOT_FOUND" : "WEAVE_DOCKER";
              reject(new WeaveError(code, `Docker API ${method} ${path} failed (${status}): ${message}`));
              return;
            }
            if (!json) return resolve(text);
            try {
              resolve(text === "" ? null : JSON.parse(text));
            } catch (err) {
              reject(
                new WeaveError("WEAVE_DOCKER", `Docker API ${method} ${path}: invalid JSON`, { cause: err }),
              );
            }
          });
          res.on("error", (err) =>
            reject(
              new WeaveError("WEAVE_DOCKER", `Docker API ${method} ${path}: ${err.message}`, { cause: err }),
            ),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on("error", (err) =>
        reject(
          new WeaveError(
            "WEAVE_DOCKER",
            `Cannot reach Docker at "${this.options.socketPath}" (${method} ${path}): ${err.message}`,
            { cause: err },
          ),
        ),
      );
      req.end(payload);
    });
  }
}
