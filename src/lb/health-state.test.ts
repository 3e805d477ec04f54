import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendHealth, type ProbeOutcome } from './health-state.js';

const thresholds = { fall: 2, rise: 2, ejectAfter: 3 };

function healthAfter(...probes: ProbeOutcome[]): BackendHealth {
  const h = new BackendHealth(thresholds);
  for (const p of probes) h.observeProbe(p);
  return h;
}

describe('BackendHealth', () => {
  it('starts up and eligible, before any probe', () => {
    const h = new BackendHealth(thresholds);
    assert.equal(h.state, 'up');
    assert.equal(h.eligible, true);
  });

  it('stays up after fewer than `fall` failed probes in a row', () => {
    assert.equal(healthAfter('fail').state, 'up');
    assert.equal(healthAfter('fail', 'ok', 'fail').state, 'up');
  });

  it('goes down after `fall` failed probes in a row', () => {
    const h = healthAfter('fail', 'fail');
    assert.equal(h.state, 'down');
    assert.equal(h.eligible, false);
  });

  it('comes back only after `rise` good probes in a row', () => {
    assert.equal(healthAfter('fail', 'fail', 'ok').state, 'down');
    assert.equal(healthAfter('fail', 'fail', 'ok', 'fail', 'ok').state, 'down');
    assert.equal(healthAfter('fail', 'fail', 'ok', 'ok').state, 'up');
  });

  it('believes a draining backend at once, and needs `rise` good probes to take it back', () => {
    assert.equal(healthAfter('draining').state, 'draining');
    assert.equal(healthAfter('draining').eligible, false);
    assert.equal(healthAfter('draining', 'ok').state, 'draining');
    assert.equal(healthAfter('draining', 'ok', 'ok').state, 'up');
  });

  it('reports whether a probe changed anything', () => {
    const h = new BackendHealth(thresholds);
    assert.equal(h.observeProbe('ok'), false);
    assert.equal(h.observeProbe('fail'), false);
    assert.equal(h.observeProbe('fail'), true);
    assert.equal(h.observeProbe('fail'), false);
  });

  it('ejects after `ejectAfter` failed requests in a row, even while probes pass', () => {
    const h = healthAfter('ok');
    assert.equal(h.observeRequestFailure(), false);
    assert.equal(h.observeRequestFailure(), false);
    assert.equal(h.observeRequestFailure(), true);
    assert.equal(h.ejected, true);
    assert.equal(h.eligible, false);
    assert.equal(h.state, 'up');
  });

  it('does not eject when a success interrupts the failures', () => {
    const h = new BackendHealth(thresholds);
    h.observeRequestFailure();
    h.observeRequestFailure();
    h.observeRequestSuccess();
    h.observeRequestFailure();
    h.observeRequestFailure();
    assert.equal(h.ejected, false);
  });

  it('readmits an ejected backend at its next good probe', () => {
    const h = new BackendHealth(thresholds);
    for (let i = 0; i < 3; i++) h.observeRequestFailure();
    assert.equal(h.observeProbe('fail'), false);
    assert.equal(h.ejected, true);
    assert.equal(h.observeProbe('ok'), true);
    assert.equal(h.ejected, false);
    assert.equal(h.eligible, true);
  });

  it('a backend down only for late probes may take requests when none is healthy (panic), one refusing or draining never', () => {
    const slow = healthAfter('slow', 'slow');
    assert.equal(slow.state, 'down', 'late probes count toward `fall` like failed ones');
    assert.equal(slow.eligible, false);
    assert.equal(slow.panicEligible, true);
    assert.equal(healthAfter('slow', 'fail').panicEligible, false, 'the last probe was refused: not known alive');
    assert.equal(healthAfter('fail', 'slow').panicEligible, true, 'it answers connections again, late');
    assert.equal(healthAfter('draining').panicEligible, false, 'it said no new requests');
    // CI: a draining backend's probes then timed out on a loaded machine; it took a request in panic.
    const drainedThenSlow = healthAfter('draining', 'slow', 'slow');
    assert.equal(drainedThenSlow.state, 'down');
    assert.equal(drainedThenSlow.panicEligible, false, 'it said no new requests, then went silent: still no');
    assert.equal(healthAfter('draining', 'ok', 'slow', 'slow').panicEligible, true, 'ready again since, then late: alive');
    assert.equal(healthAfter('slow').panicEligible, false, 'still up: eligible the normal way');
    assert.equal(new BackendHealth(thresholds).panicEligible, false);
  });

  it('leaves the panic set when its requests fail at the transport level, and reports the change', () => {
    const h = healthAfter('slow', 'slow');
    assert.equal(h.observeRequestFailure(), false);
    assert.equal(h.observeRequestFailure(), false);
    assert.equal(h.observeRequestFailure(), true, 'ejected: the change is reported');
    assert.equal(h.panicEligible, false);
    const f = healthAfter('fail', 'fail');
    assert.equal(f.observeProbe('slow'), true, 'refusing, then late: it became panic-eligible, a change');
  });
});
