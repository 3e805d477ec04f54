import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the kit runs from dist/kit/, two levels below). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
