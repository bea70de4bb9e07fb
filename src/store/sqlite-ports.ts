/** The `port_bindings` table (migration 5): host ports published by endpoints. */
import type Database from "better-sqlite3";
import type { PortBindingRecord } from "./types.js";

interface PortBindingRow {
  endpoint_id: string;
  proto: string;
  family: number;
  host_ip: string;
  host_port: number;
  container_port: number;
  created_at: number;
}

function toRecord(r: PortBindingRow): PortBindingRecord {
  return {
    endpointId: r.endpoint_id,
    proto: r.proto === "udp" ? "udp" : "tcp",
    family: r.family === 6 ? 6 : 4,
    hostIp: r.host_ip,
    hostPort: r.host_port,
    containerPort: r.container_port,
    createdAt: r.created_at,
  };
}

/** Statements over `port_bindings`; rows go when their endpoint goes (ON DELETE CASCADE). */
export class SqlitePortBindings {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    const order = "ORDER BY created_at, endpoint_id, host_port, family";
    this.q = {
      list: db.prepare<[], PortBindingRow>(`SELECT * FROM port_bindings ${order}`),
      listOf: db.prepare<[string], PortBindingRow>(
        `SELECT * FROM port_bindings WHERE endpoint_id = ? ${order}`,
      ),
      clear: db.prepare("DELETE FROM port_bindings WHERE endpoint_id = ?"),
      insert: db.prepare(
        `INSERT INTO port_bindings (endpoint_id, proto, family, host_ip, host_port, container_port, created_at)
         VALUES (@endpointId, @proto, @family, @hostIp, @hostPort, @containerPort, @createdAt)`,
      ),
    };
  }

  list(endpointId?: string): PortBindingRecord[] {
    const rows = endpointId === undefined ? this.q.list.all() : this.q.listOf.all(endpointId);
    return rows.map(toRecord);
  }

  set(endpointId: string, bindings: readonly PortBindingRecord[]): void {
    this.db.transaction(() => {
      this.q.clear.run(endpointId);
      for (const b of bindings) this.q.insert.run({ ...b, endpointId });
    })();
  }
}
