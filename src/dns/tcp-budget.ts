/**
 * Connection budgets of the DNS TCP front end, so that one client cannot take the TCP service
 * from the others: a budget per client address, one per listening address (one per network
 * gateway), and a global cap. Pure bookkeeping; the front end refuses a connection it cannot fit.
 */

/** How many TCP connections may be open at once. */
export interface TcpBudgetLimits {
  /** Across all listeners. */
  total: number;
  /** Per listening (local) address, i.e. per network gateway. */
  perAddress: number;
  /** Per client (remote) address, across all listeners. */
  perClient: number;
}

/** Why a connection was refused, or undefined when it fits. */
export type TcpRefusal = "total" | "address" | "client";

/** Counts open connections by listening address and by client address. */
export class TcpBudget {
  private total = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly byClient = new Map<string, number>();

  constructor(private readonly limits: Readonly<TcpBudgetLimits>) {}

  /**
   * Takes one connection from `local` (listening address) for `client` (remote address) when
   * every budget allows it; returns which budget is exhausted otherwise (and takes nothing).
   */
  acquire(local: string, client: string): TcpRefusal | undefined {
    if ((this.byClient.get(client) ?? 0) >= this.limits.perClient) return "client";
    if ((this.byAddress.get(local) ?? 0) >= this.limits.perAddress) return "address";
    if (this.total >= this.limits.total) return "total";
    this.total++;
    bump(this.byAddress, local, 1);
    bump(this.byClient, client, 1);
    return undefined;
  }

  /** Gives back a connection taken by `acquire(local, client)`. */
  release(local: string, client: string): void {
    this.total--;
    bump(this.byAddress, local, -1);
    bump(this.byClient, client, -1);
  }

  /** Open connections in all, for `local`, and for `client`. */
  count(local?: string, client?: string): { total: number; address: number; client: number } {
    return {
      total: this.total,
      address: local === undefined ? 0 : (this.byAddress.get(local) ?? 0),
      client: client === undefined ? 0 : (this.byClient.get(client) ?? 0),
    };
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
