import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/*
 * Certificates for the TLS tests (and the TLS bench): a throwaway CA and leaf certificates
 * signed by it, made with the real openssl. Not used by the product (src/engines/tls.ts makes the
 * cluster's own CA).
 */

export interface TestCa {
  readonly dir: string;
  readonly crt: string;
  readonly key: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', [...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

export function makeTestCa(dir: string, name = 'hastack test CA'): TestCa {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, 'ca.key');
  const crt = path.join(dir, 'ca.crt');
  // EC P-256: fast to make and to sign with, so the tests and bench spend their time elsewhere.
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-x509', '-new', '-key', key, '-sha256', '-days', '30', '-subj', `/CN=${name}`, '-out', crt]);
  return { dir, crt, key };
}

/**
 * A leaf certificate for `sans` (`DNS:a.example`, `IP:127.0.0.1`), signed by `ca`, chain included
 * (leaf then CA) in `<name>.crt`, its key in `<name>.key`. `rsa`: an RSA 2048 key (the bench's
 * comparison uses the common case); default EC P-256.
 */
export function makeTestCert(ca: TestCa, name: string, sans: readonly string[], o: { rsa?: boolean; ocspUrl?: string } = {}): { certFile: string; keyFile: string } {
  const keyFile = path.join(ca.dir, `${name}.key`);
  const certFile = path.join(ca.dir, `${name}.crt`);
  const csr = path.join(ca.dir, `${name}.csr`);
  const ext = path.join(ca.dir, `${name}.ext`);
  const leaf = path.join(ca.dir, `${name}.leaf`);
  if (o.rsa === true) openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile]);
  else openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
  fs.writeFileSync(
    ext,
    `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n${o.ocspUrl !== undefined ? `authorityInfoAccess=OCSP;URI:${o.ocspUrl}\n` : ''}`,
  );
  openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', ext, '-out', leaf]);
  fs.writeFileSync(certFile, fs.readFileSync(leaf, 'utf8') + fs.readFileSync(ca.crt, 'utf8'));
  fs.chmodSync(keyFile, 0o600);
  for (const f of [csr, ext, leaf]) fs.rmSync(f, { force: true });
  return { certFile, keyFile };
}
