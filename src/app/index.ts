// The app tier's public API. Applications use the contract (defineApp, HttpError, respond and
// the types); the supervisor uses startAppServer and runMigrations; the worker tier uses
// loadApp, openAppRuntime and startMigrationRunner to run the same app's jobs.
import type { ServiceContext } from '../registry/index.js';
import type { Closeable } from '../shared/lifecycle.js';
import type { AppServerOptions } from './host.js';
export { defineApp, HttpError, respond, isHttpResponse, isAppDefinition, isDuplicateKeyError, checkRouteUrl, HTTP_METHODS, RESERVED_PATHS } from './contract.js';
export type {
  AppSpec,
  AppDefinition,
  AppContext,
  AppRequest,
  AppLogger,
  AppQueue,
  EnqueueOptions,
  HttpMethod,
  HttpResponse,
  JobContext,
  JobHandler,
  JobInfo,
  JsonValue,
  Migration,
  Counters,
  CounterState,
  Route,
  RouteHandler,
  Schedule,
  SessionStore,
  Cache,
  Db,
  DbReader,
  DbTx,
  ReadOptions,
  SessionDb,
  QueryOptions,
  Row,
  SqlValue,
  TransactionOptions,
  WriteResult,
} from './contract.js';
export { startCommandApp, runMigrateCommand, spawnCommand, stopChild, describeExit } from './command.js';
export type { ExitInfo } from './command.js';
export { withClusterLock } from './cluster-lock.js';
export type { ClusterLockOptions } from './cluster-lock.js';
export type { AppServerOptions } from './host.js';

/**
 * Starts the app's HTTP server (host.ts). Loaded when called: the worker, the migrate process and
 * every app module import this index, and none of them serves HTTP (Fastify: 0.2 s of CPU each).
 */
export async function startAppServer(ctx: ServiceContext, opts?: AppServerOptions): Promise<Closeable> {
  return (await import('./host.js')).startAppServer(ctx, opts);
}
export { runMigrations, applyMigrations, startMigrationRunner, migrationsFor, MIGRATION_LOCK } from './migrate.js';
export type { MigrationResult, MigrationRunner } from './migrate.js';
export { loadApp, loadAppModule } from './load.js';
export { packageRoot, resolveAppModulePath } from '../shared/module-path.js';
export { openAppRuntime, queueNameOf, appLogger } from './runtime.js';
export type { AppRuntime } from './runtime.js';
// Tests and tools: the session store over a given Redis (and its replicas).
export { keyedHash, redisSessionStore } from './session.js';
export type { SessionStoreOptions } from './session.js';
