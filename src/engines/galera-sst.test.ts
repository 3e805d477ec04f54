import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { renderFastSst } from './galera-sst.js';

// The shape of MariaDB 10.11's script around the edited lines.
const SCRIPT = [
  '. $(dirname "$0")/wsrep_sst_common',
  '            tcmd="socat -u stdio TCP:$REMOTEIP:$SST_PORT$sockopt"',
  '            local addr="$REMOTEIP:$SST_PORT"',
  '        wsrep_log_info "Sleeping before data transfer for SST"',
  '        sleep 10',
  '',
].join('\n');

describe('renderFastSst', () => {
  it('drops the fixed sleep, makes the donor connect retry, and sources the installed helpers', () => {
    const out = renderFastSst(SCRIPT, '/usr/bin');
    assert.ok(out);
    assert.doesNotMatch(out, /sleep 10/);
    assert.match(out, /^\. '\/usr\/bin\/wsrep_sst_common'$/m);
    assert.match(out, /TCP:\$REMOTEIP:\$SST_PORT\$sockopt,retry=150,interval=0\.1"/);
    assert.match(out, /local addr="\$REMOTEIP:\$SST_PORT,retry=150,interval=0\.1"/);
  });
  it('renders nothing when a line is missing or repeated (another MariaDB version)', () => {
    assert.equal(renderFastSst(SCRIPT.replace('        sleep 10\n', ''), '/usr/bin'), undefined);
    assert.equal(renderFastSst(SCRIPT + '        sleep 10\n', '/usr/bin'), undefined);
  });
  it("applies to this machine's installed script", { skip: fs.existsSync('/usr/bin/wsrep_sst_mariabackup') ? false : 'no galera SST script installed' }, () => {
    assert.ok(renderFastSst(fs.readFileSync('/usr/bin/wsrep_sst_mariabackup', 'utf8'), '/usr/bin'));
  });
});
