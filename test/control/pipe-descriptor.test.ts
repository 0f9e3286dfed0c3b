/** The control pipe's descriptor check (pure): only protected DACLs whose every ACE allows SYSTEM or Administrators pass. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitsOnlySystemAndAdmins, CONTROL_PIPE_SDDL } from '../../src/control/win32-pipe';
import { resolveControlPath } from '../../src/control/paths';

test('the SDDL the server asks for passes, and so do the forms Windows writes back', () => {
  for (const ok of [CONTROL_PIPE_SDDL, 'D:P(A;;FA;;;SY)(A;;FA;;;BA)', 'D:PAI(A;;0x1f01ff;;;SY)(A;;0x1f01ff;;;BA)']) assert.equal(admitsOnlySystemAndAdmins(ok), true, ok);
});

test('anything more or less strict in the wrong way fails: not protected, Everyone, users, deny-less extras, no ACE, junk', () => {
  for (const bad of [
    'D:(A;;GA;;;SY)(A;;GA;;;BA)', // inheritable: not protected
    'D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GR;;;WD)', // Everyone may read (the default pipe DACL's hole)
    'D:P(A;;GA;;;SY)(A;;GA;;;BU)', // Users
    'D:P(A;;GA;;;SY)(A;;GA;;;AN)', // Anonymous
    'D:P', 'D:NO_ACCESS_CONTROL', '', 'O:BAD:P(A;;GA;;;SY)',
  ]) assert.equal(admitsOnlySystemAndAdmins(bad), false, bad);
});

test('on Windows the control path is the pipe name, used as written', () => {
  assert.equal(resolveControlPath(null, 'win32'), '\\\\.\\pipe\\brokerwatch');
  assert.equal(resolveControlPath('\\\\.\\pipe\\custom', 'win32'), '\\\\.\\pipe\\custom');
});
