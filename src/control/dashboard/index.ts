export { dashboardRoutes } from './http.js';
export type { DashboardRoutes } from './http.js';
export { saveReport, listReports, readReport } from './reports.js';
export type { DashboardStatus, DashboardService, LbSnapshot, QueueSnapshot, ReportSummary, StreamMessage } from './types.js';
