# Runs one command as a child (stdout/stderr to /dev/null) and prints "<wall seconds> <peak RSS KiB>
# <exit code> <CPU seconds>": wall time from fork to exit, peak RSS and user+system CPU time from the
# kernel's rusage of that child (wait4).
#
# --evict (before the command): first drop the executable's pages from the page cache (fsync, then
# POSIX_FADV_DONTNEED on that one file) and run nothing. A binary written moments ago (a fresh build,
# a package just installed) sits in the page cache in large folios, and mapping those counts up to
# 30 MB more RSS than the same binary read back from disk - as on any host that has rebooted since.
import os, sys, time
if sys.argv[1] == '--evict':
    fd = os.open(sys.argv[2], os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    sys.exit(0)
t = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open('/dev/null', os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(time.monotonic() - t, ru.ru_maxrss, os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime)
