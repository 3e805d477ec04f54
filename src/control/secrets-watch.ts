import fs from 'node:fs';
import { readSecrets, refreshSecretsInPlace, secretsFile, type Secrets } from '../config/index.js';
import { describeError } from '../shared/errors.js';
import { SECRETS_RELOADED } from '../substrate/index.js';

/**
 * How often secrets.json is looked at (one stat): `secrets rotate` saves new passwords there and
 * the services, probes, admin API and failover controller of this process must use them within
 * about a second, before the rotation restarts the clients.
 */
const SECRETS_CHECK_MS = 1_000;

/**
 * The supervisor's view of secrets.json: picks up passwords `secrets rotate` saved by updating,
 * in place, the one Secrets object every service context, the admin API and the failover
 * controller share. A file that cannot be read leaves the passwords in use as they are.
 */
export class SecretsWatch {
  private readonly timer: NodeJS.Timeout;
  private mtimeMs: number;

  constructor(
    private readonly stateDir: string,
    private readonly secrets: Secrets,
    /** One line for the event log: SECRETS_RELOADED (`secrets rotate` waits for it), or why not. */
    private readonly say: (message: string) => void,
  ) {
    this.mtimeMs = this.mtime();
    this.timer = setInterval(() => this.refresh(), SECRETS_CHECK_MS);
    this.timer.unref();
  }

  private mtime(): number {
    try {
      return fs.statSync(secretsFile(this.stateDir)).mtimeMs;
    } catch {
      return 0;
    }
  }

  /** Reads secrets.json again if it changed since last time; also called before a (re)start. */
  refresh(): void {
    const mtime = this.mtime();
    if (mtime === this.mtimeMs) return;
    try {
      refreshSecretsInPlace(this.secrets, readSecrets(this.stateDir));
      this.mtimeMs = mtime;
      this.say(SECRETS_RELOADED);
    } catch (e) {
      this.say(`secrets.json changed but cannot be read (${describeError(e)}); keeping the passwords in use`);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
