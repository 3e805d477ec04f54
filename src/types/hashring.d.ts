/**
 * Types for `hashring` 3.x (libketama-compatible consistent hashing; the package ships none).
 * Only what hastack uses is declared.
 */
declare module 'hashring' {
  type ServerSpec = string | readonly string[] | Readonly<Record<string, number | { readonly weight?: number; readonly vnodes?: number }>>;

  interface HashRingOptions {
    /** Virtual nodes per server (default 40; with 4 replicas that is ketama's 160 points). */
    readonly 'vnode count'?: number;
    readonly compatibility?: 'ketama' | 'hash_ring';
    readonly replicas?: number;
    readonly 'max cache size'?: number;
    readonly 'default port'?: number;
  }

  class HashRing {
    constructor(servers?: ServerSpec, algorithm?: string | ((key: string) => string), options?: HashRingOptions);
    /** The server owning `key`, or undefined when the ring is empty. */
    get(key: string): string | undefined;
    /** Up to `size` distinct servers in ring order starting at `key`'s owner. */
    range(key: string, size?: number, unique?: boolean): string[];
    add(server: ServerSpec): this;
    remove(server: string): this;
    has(server: string): boolean;
    swap(from: string, to: string): this;
    reset(): this;
    end(): this;
    points(server?: string): Record<string, number[]>;
  }

  export = HashRing;
}
