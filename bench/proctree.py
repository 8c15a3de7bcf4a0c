"""CPU time and resident memory of a server's whole process tree, read from /proc."""
import os

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid):
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; the last ')' ends it.
    return raw[raw.rindex(b")") + 2:].split()


def tree(root):
    """The root pid and all its live descendants (gunicorn master + workers, uvicorn + children)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(name)
            if fields:
                children.setdefault(int(fields[1]), []).append(int(name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def cpu_seconds(root):
    """utime+stime of every live process in the tree, plus the c-times of reaped children.

    Counting cutime/cstime keeps the CPU of a worker that gunicorn recycled
    (max_requests) between two snapshots; a live child is never in its parent's
    c-times, so nothing is counted twice.
    """
    total = 0
    for pid in tree(root):
        f = _stat(pid)
        if f:
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / _TICK


def rss_bytes(root):
    """Sum of resident set sizes over the tree (counts pages shared after fork once per process)."""
    total = 0
    for pid in tree(root):
        f = _stat(pid)
        if f:
            total += int(f[21]) * _PAGE
    return total


def pss_bytes(root):
    """Sum of proportional set sizes over the tree: shared pages split between their users, so nothing counts twice."""
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def machine_busy_seconds():
    """CPU seconds every CPU of the machine spent busy (not idle or waiting on I/O), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def own_cpu_seconds(pid):
    """utime+stime of one process (all its threads), without its children."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / _TICK if f else 0.0
