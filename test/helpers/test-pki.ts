/**
 * Throw-away certificates made with the real openssl CLI: a CA, a server certificate it signs for
 * 127.0.0.1 and localhost (what the rsyslog TLS listener presents), and an unrelated second CA for
 * "wrong CA" tests. EC P-256 keys: quick to make, and both OpenSSL (node) and GnuTLS (rsyslog) use them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileP } from './lab-process';

export interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  /** A CA that signed nothing here. */
  otherCaFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(openssl: string, dir: string, name: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  await execFileP(openssl, ['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

export async function makeTestPki(openssl: string, dir: string): Promise<TestPki> {
  fs.mkdirSync(dir, { recursive: true });
  const ca = await makeCa(openssl, dir, 'ca', 'brokerwatch test CA');
  const other = await makeCa(openssl, dir, 'other-ca', 'brokerwatch unrelated CA');
  const serverKey = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const serverCert = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'server.ext');
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  await execFileP(openssl, ['req', '-new', ...EC, '-keyout', serverKey, '-out', csr, '-subj', '/CN=localhost']);
  await execFileP(openssl, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', '1001', '-days', '2', '-out', serverCert, '-extfile', ext]);
  return { caFile: ca.cert, serverCert, serverKey, otherCaFile: other.cert };
}
