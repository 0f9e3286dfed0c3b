/** AN0002 defaults (unusualProcessList.windows in config/default.yaml): case-insensitive on image name and path. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRules } from '../../../src/analyzer/rules';
import { loadConfig } from '../../../src/config/load';

const rules = compileRules(loadConfig([]).config, { platform: 'win32' });

test('the processes DET0002 names and common LOLBins match in any case, by image file name', () => {
  for (const exe of [
    'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\POWERSHELL.EXE', 'C:\\Program Files\\PowerShell\\7\\pwsh.exe',
    'C:\\Python312\\python.exe', 'C:\\Python312\\pythonw.exe', 'C:\\Windows\\System32\\rundll32.exe', 'C:\\Windows\\System32\\RegSvr32.exe',
    'C:\\Windows\\System32\\mshta.exe', 'C:\\Windows\\System32\\certutil.exe', 'C:\\Windows\\System32\\cscript.exe', 'C:\\tools\\ncat.exe',
    'C:\\Windows\\System32\\curl.exe', 'C:\\Program Files\\mosquitto\\mosquitto_pub.exe',
  ]) {
    assert.ok(rules.unusual.match({ pid: 1, exe }), exe);
  }
});

test('writable folders match on the full path, whatever the image name', () => {
  for (const exe of ['C:\\Users\\alice\\AppData\\Local\\Temp\\upd.exe', 'C:\\users\\public\\svc.exe', 'C:\\ProgramData\\x\\agent.exe', 'c:\\windows\\temp\\a.exe']) {
    assert.equal(rules.unusual.match({ pid: 1, exe })?.on, 'exe', exe);
  }
});

test('ordinary applications do not match', () => {
  for (const exe of ['C:\\Program Files\\Mozilla Firefox\\firefox.exe', 'C:\\Windows\\System32\\svchost.exe', 'C:\\Program Files\\Contoso\\iot-agent.exe', 'C:\\Windows\\System32\\notepython.exe']) {
    assert.equal(rules.unusual.match({ pid: 1, exe }), null, exe);
  }
});
