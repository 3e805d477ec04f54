import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forcedCommand, parseGatedCommand, restrictedKeyLine, splitWords } from './agent-gate.js';
import { shq } from './ssh-args.js';

const STATE = '/var/lib/hastack/shop';
/** What HostSession.agentCommand sends, quoted by shq. */
const sent = (...words: string[]): string => ['/opt/hastack/bin/hastack', '_agent', ...words].map(shq).join(' ');

describe('review item 4: the controller key runs only the gate', () => {
  it('lets through status, node-down and record-role for this state directory', () => {
    assert.deepEqual(parseGatedCommand(sent('status', '--state', STATE, '--node', 'db1'), STATE), { verb: 'status', options: { '--node': 'db1' } });
    assert.deepEqual(parseGatedCommand(sent('node-down', '--state', STATE, '--node', 'db1'), STATE), { verb: 'node-down', options: { '--node': 'db1' } });
    // The fence in one call: its database's role recorded first.
    assert.deepEqual(parseGatedCommand(sent('node-down', '--state', STATE, '--node', 'db1', '--record-replica', 'db1/mariadb'), STATE), {
      verb: 'node-down',
      options: { '--node': 'db1', '--record-replica': 'db1/mariadb' },
    });
    assert.deepEqual(parseGatedCommand(sent('record-role', '--state', STATE, '--id', 'db1/mariadb', '--role', 'replica'), STATE), {
      verb: 'record-role',
      options: { '--id': 'db1/mariadb', '--role': 'replica' },
    });
    // node and main.js named explicitly (deploy's own form) are accepted too.
    assert.equal(
      parseGatedCommand(['/usr/bin/node', '/opt/hastack/current/dist/src/cli/main.js', '_agent', 'status', '--state', STATE, '--node', 'x'].map(shq).join(' '), STATE).verb,
      'status',
    );
  });

  it('refuses a shell, other verbs, other state directories, extra or missing arguments', () => {
    const refused = (cmd: string | undefined): void => assert.throws(() => parseGatedCommand(cmd, STATE), /may only run the agent's status, node-down, record-role verbs; refused/);
    refused(undefined);
    refused('');
    refused('id');
    refused('sh -c id');
    refused(`${sent('status', '--state', STATE, '--node', 'db1')}; id`);
    refused(`${sent('status', '--state', STATE, '--node', 'db1')} && id`);
    refused(`${sent('status', '--state', STATE, '--node', '$(id)')}`.replace("'$(id)'", '$(id)'));
    refused(sent('apply', '--state', STATE, '--node', 'db1'));
    refused(sent('node-up', '--state', STATE, '--node', 'db1'));
    refused(sent('stop', '--state', STATE, 'hastack-shop-db1-mariadb'));
    refused(sent('status', '--state', '/etc', '--node', 'db1'));
    refused(sent('status', '--node', 'db1'));
    refused(sent('status', '--state', STATE));
    refused(sent('status', '--state', STATE, '--node', 'db1', '--node', 'db2'));
    refused(sent('record-role', '--state', STATE, '--id', 'db1/mariadb', '--role', 'primary', '--extra', 'x'));
    refused(['a', 'b', 'c', '_agent', 'status', '--state', STATE, '--node', 'x'].join(' '));
  });

  it('splits shq-quoted words, quotes inside included', () => {
    assert.deepEqual(splitWords(`a 'b c' 'it'\\''s'`), ['a', 'b c', "it's"]);
    assert.throws(() => splitWords("a 'b"), /unterminated/);
  });

  it('the authorized_keys line: restrict, one source address, the gate as forced command', () => {
    const line = restrictedKeyLine('ssh-ed25519 AAAAC3Nza hastack-shop-controller\n', forcedCommand('/opt/hastack/bin/hastack', STATE), '10.0.0.3');
    assert.equal(line, 'restrict,from="10.0.0.3",command="/opt/hastack/bin/hastack _agent-gate --state /var/lib/hastack/shop" ssh-ed25519 AAAAC3Nza hastack-shop-controller');
    assert.throws(() => forcedCommand('/opt/my hastack/bin/hastack', STATE), /plain paths/);
    assert.throws(() => restrictedKeyLine('k', 'c', '10.0.0.3",command="sh'), /IP address/);
  });
});
