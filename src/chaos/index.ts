export { SCENARIOS, findScenario, faultSchedule, affectedOps } from './scenarios.js';
export type { Scenario, FaultSpec, FaultAction } from './scenarios.js';
export { runChaos } from './run.js';
export type { ChaosRunOptions, ChaosResult } from './run.js';
export { reportJson, reportText, reportHtml, timeline } from './report.js';
export { checkRun } from './checkers.js';
export type { ChaosReport, CheckedRun } from './checkers.js';
export { TARGET_ROLES } from './faults.js';
