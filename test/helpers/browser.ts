import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './cli.js';

/** Debian's `chromium` package (.ci/run installs it); never a browser downloaded by playwright. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where tests put screenshots (gitignored); CI keeps the folder with the run's output. */
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts');

export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export function artifactPath(name: string): string {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}
