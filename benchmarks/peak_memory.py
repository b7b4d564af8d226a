"""Peak resident memory of the current process, for the memory probes of benchmarks/peer_speed.py (ours) and
benchmarks/peer_coqui.py (the peer), each of which runs in a process of its own."""


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB: VmHWM of /proc/self/status (Linux).

    Not ru_maxrss: Linux carries the parent's peak over fork and exec into a child's ru_maxrss.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status: the memory probe needs Linux")
