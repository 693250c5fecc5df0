#!/usr/bin/env bash
# Stops what tests/slurm/start_cluster.sh DIR started: its jobs, slurmd, slurmctld, munged (by
# their pid files in DIR, so no other Slurm or munge is touched).
set -uo pipefail
dir="$1"
export SLURM_CONF="$dir/slurm.conf"
[ -f "$SLURM_CONF" ] && scancel --quiet --user "$(id -un)" 2>/dev/null
for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
done
exit 0
