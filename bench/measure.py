# Runs one command as a child (stdout/stderr to /dev/null) and prints "<wall seconds> <peak RSS KiB>
# <exit code>": wall time from fork to exit, peak RSS from the kernel's rusage of that child (wait4).
import os, sys, time
t = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open('/dev/null', os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(time.monotonic() - t, ru.ru_maxrss, os.waitstatus_to_exitcode(status))
